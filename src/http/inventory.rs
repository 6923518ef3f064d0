//! `/inventory/*`: stock per sku. Reads need any token; writes an admin's.
//! The saga's reserve/release/commit/restock have no route.
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::OpenApi;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{command, wait_budget, Admin, Auth, PageQuery},
};
use crate::{
    actors::inventory::{Decrease, GetStock, LowStock, SetStock, StockView},
    context::NodeCtx,
    problem::Paged,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStockBody {
    /// Units on hand after the count (0..=1e9); never below what is reserved.
    #[schema(minimum = 0, maximum = 1000000000)]
    pub on_hand: i64,
    /// Low-stock threshold for available units (0..=1e9; kept if absent; 5 for a new sku).
    #[schema(minimum = 0, maximum = 1000000000)]
    pub reorder_point: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecreaseBody {
    /// 1..=10000 units.
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// The caller's reference (1 to 128 visible ASCII characters): a repeat
    /// with the same one does not decrease again.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    pub order_id: String,
}

#[utoipa::path(get, path = "/api/v1/inventory/{sku}", tag = "inventory", security(("bearer" = [])),
    params(("sku" = String, Path)),
    responses((status = 200, body = StockView), (status = 401, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn stock(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = GetStock {
        sku: sku.into_inner(),
    };
    let v = ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[utoipa::path(put, path = "/api/v1/inventory/{sku}", tag = "inventory", security(("bearer" = ["admin"])),
    params(("sku" = String, Path)),
    request_body = SetStockBody,
    description = "Sets on_hand (a count or a restock). Creates the sku's row if it has none: an admin counting a new sku.",
    responses((status = 200, body = StockView), (status = 202, description = "accepted; poll Location"),
        (status = 403, body = ProblemBody), (status = 409, body = ProblemBody, description = "below the reserved units"),
        (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn set_stock(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    sku: web::Path<String>,
    body: Json<SetStockBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let cmd = SetStock {
        sku: sku.into_inner(),
        on_hand: body.on_hand,
        reorder_point: body.reorder_point,
    };
    command(&ctx, &req, admin.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(post, path = "/api/v1/inventory/{sku}/decrease", tag = "inventory", security(("bearer" = ["admin"])),
    params(("sku" = String, Path)),
    request_body = DecreaseBody,
    description = "Takes units out of stock outside the order saga (counted as sold). At most once per (order_id, sku): a repeat answers the current stock.",
    responses((status = 200, body = StockView), (status = 202, description = "accepted; poll Location"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "not enough available"), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn decrease(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    sku: web::Path<String>,
    body: Json<DecreaseBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let cmd = Decrease {
        sku: sku.into_inner(),
        quantity: body.quantity,
        order_id: body.order_id,
    };
    command(&ctx, &req, admin.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(get, path = "/api/v1/inventory/low-stock", tag = "inventory", security(("bearer" = ["admin"])),
    params(PageQuery),
    responses((status = 200, body = Paged<StockView>, description = "available <= reorder_point, emptiest first"),
        (status = 403, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn low_stock(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = ctx
        .mom
        .ask(&LowStock { page: q.page()? }, wait_budget(&ctx, &req))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(stock, set_stock, decrease, low_stock),
    components(schemas(StockView, SetStockBody, DecreaseBody)),
    tags((name = "inventory", description = "Stock per sku"))
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Before `/inventory/{sku}`, which would take "low-stock" for a sku.
    cfg.route("/inventory/low-stock", web::get().to(low_stock))
        .service(
            web::resource("/inventory/{sku}")
                .route(web::get().to(stock))
                .route(web::put().to(set_stock)),
        )
        .route("/inventory/{sku}/decrease", web::post().to(decrease));
}
