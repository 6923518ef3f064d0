//! `/orders`.
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::OpenApi;
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{command, exec_options, respond, wait_budget, Admin, Auth, PageQuery},
};
use crate::{
    actors::orders::{
        self, Address, CancelOrder, CardInput, GetOrder, ItemRequest, ListOrders, OrderLine,
        OrderStatus, OrderView, PaymentInput, PlaceRequest, SetOrderStatus,
    },
    context::NodeCtx,
    problem::Paged,
};

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(place, list, get, cancel, set_status),
    components(schemas(
        PlaceRequest,
        ItemRequest,
        PaymentInput,
        CardInput,
        Address,
        OrderView,
        OrderLine,
        OrderStatus,
        StatusBody,
        ProblemBody
    ))
)]
pub struct Api;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// "shipped" (from confirmed) or "delivered" (from shipped).
    pub status: OrderStatus,
}

#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), request_body = PlaceRequest,
    responses((status = 201, body = OrderView, description = "placed; the saga runs to confirmed or failed — poll GET /orders/{id}"),
        (status = 202, description = "accepted; poll Location"), (status = 404, body = ProblemBody, description = "unknown sku"),
        (status = 422, body = ProblemBody, description = "invalid card, empty cart, bad address")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn place(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<PlaceRequest>,
) -> Result<HttpResponse, ApiError> {
    let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
    respond(
        orders::place(&ctx.mom, caller.user_id, body.into_inner(), opts).await,
        StatusCode::CREATED,
    )
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Paged<OrderView>, description = "yours, newest first (an admin sees all)")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn list(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = ListOrders {
        user_id: caller.user_id,
        admin: caller.is_admin(),
        page: q.page()?,
    };
    Ok(HttpResponse::Ok().json(ctx.mom.ask(&query, wait_budget(&ctx, &req)).await?))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn get(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let query = GetOrder {
        order_id: id.into_inner(),
        user_id: caller.user_id,
        admin: caller.is_admin(),
    };
    Ok(HttpResponse::Ok().json(ctx.mom.ask(&query, wait_budget(&ctx, &req)).await?))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderView, description = "cancelled; stock and money go back"), (status = 202, description = "accepted; poll Location"),
        (status = 409, body = ProblemBody, description = "already shipped, failed or cancelled")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn cancel(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let cmd = CancelOrder {
        order_id: id.into_inner(),
        user_id: caller.user_id,
        admin: caller.is_admin(),
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(patch, path = "/api/v1/orders/{id}/status", tag = "orders", security(("bearer" = ["admin"])), params(("id" = Uuid, Path)),
    request_body = StatusBody, responses((status = 200, body = OrderView), (status = 202, description = "accepted; poll Location"), (status = 409, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn set_status(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    id: web::Path<Uuid>,
    body: Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let cmd = SetOrderStatus {
        order_id: id.into_inner(),
        status: body.status,
    };
    command(&ctx, &req, admin.user_id, cmd, StatusCode::OK).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/orders")
            .route(web::post().to(place))
            .route(web::get().to(list)),
    )
    .route("/orders/{id}", web::get().to(get))
    .route("/orders/{id}/cancel", web::post().to(cancel))
    .route("/orders/{id}/status", web::patch().to(set_status));
}
