//! `/notifications`.
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::{command, wait_budget, Auth, PageQuery},
};
use crate::{
    actors::notifications::{ListNotifications, MarkRead, NotificationView},
    context::NodeCtx,
    problem::Paged,
};

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Paged<NotificationView>), (status = 401, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn list(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = ctx
        .mom
        .ask(
            &ListNotifications {
                user_id: caller.user_id,
                page: q.page()?,
            },
            wait_budget(&ctx, &req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = NotificationView), (status = 202, description = "accepted; poll Location"), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn mark_read(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let cmd = MarkRead {
        user_id: caller.user_id,
        id: id.into_inner(),
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(list))
        .route("/notifications/{id}/read", web::post().to(mark_read));
}
