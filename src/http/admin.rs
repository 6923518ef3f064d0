//! `/admin/*` (admin token) and `/operations/{id}` (owner or admin).
use actix_web::{web, HttpResponse};
use serde::Serialize;
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{Admin, Auth, PageQuery},
};
use crate::{
    context::NodeCtx,
    mom::{
        control::{self, ActorInfo, FaultRequest},
        DeadLetter, Operation,
    },
    problem::{Paged, Problem},
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActorList {
    pub items: Vec<ActorInfo>,
}

#[utoipa::path(post, path = "/api/v1/admin/faults", tag = "admin", security(("bearer" = ["admin"])), request_body = FaultRequest,
    responses((status = 200, body = ActorInfo), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody, description = "unknown actor")))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn inject(
    ctx: web::Data<NodeCtx>,
    Admin(admin): Admin,
    body: Json<FaultRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(control::inject(&ctx.mom, &body.actor, &body.action)?))
}

#[utoipa::path(delete, path = "/api/v1/admin/faults/{actor}", tag = "admin", security(("bearer" = ["admin"])),
    params(("actor" = String, Path)), responses((status = 200, body = ActorInfo)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn clear(
    ctx: web::Data<NodeCtx>,
    Admin(admin): Admin,
    actor: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(control::clear(&ctx.mom, &actor)?))
}

#[utoipa::path(get, path = "/api/v1/admin/actors", tag = "admin", security(("bearer" = ["admin"])),
    responses((status = 200, body = ActorList)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn actors(ctx: web::Data<NodeCtx>, Admin(admin): Admin) -> HttpResponse {
    HttpResponse::Ok().json(ActorList {
        items: control::list(&ctx.mom).await,
    })
}

#[utoipa::path(get, path = "/api/v1/admin/dead-letters", tag = "admin", security(("bearer" = ["admin"])), params(PageQuery),
    responses((status = 200, body = Paged<DeadLetter>)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn dead_letters(
    ctx: web::Data<NodeCtx>,
    Admin(admin): Admin,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ctx.mom.dead_letters(q.page()?).await?))
}

#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/retry", tag = "admin", security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path)), responses((status = 202, description = "back in its queue; poll Location"), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn retry(
    ctx: web::Data<NodeCtx>,
    Admin(admin): Admin,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if ctx.mom.retry_dead(id).await? {
        Ok(super::extract::accepted(id))
    } else {
        Err(Problem::not_found(format!("{id} is not a dead letter")).into())
    }
}

#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "operations", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Operation), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn operation(
    ctx: web::Data<NodeCtx>,
    Auth(caller): Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let op = ctx
        .mom
        .operation(id.into_inner())
        .await?
        .filter(|op| caller.is_admin() || op.owner == Some(caller.user_id))
        .ok_or_else(|| Problem::not_found("no such operation"))?;
    Ok(HttpResponse::Ok().json(op))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/faults", web::post().to(inject))
        .route("/admin/faults/{actor}", web::delete().to(clear))
        .route("/admin/actors", web::get().to(actors))
        .route("/admin/dead-letters", web::get().to(dead_letters))
        .route("/admin/dead-letters/{id}/retry", web::post().to(retry))
        .route("/operations/{id}", web::get().to(operation));
}
