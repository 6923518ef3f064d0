//! REST routes of `cart`: `/cart`, `/cart/items`, `/cart/items/{sku}` (the
//! caller's own cart).
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::OpenApi;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{command, wait_budget, Auth},
};
use crate::{
    actors::cart::{AddItem, CartItem, CartView, ClearCart, GetCart, RemoveItem, SetQuantity},
    context::NodeCtx,
};

/// `POST /cart/items`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemBody {
    /// A catalog sku: 1 to 64 characters of `A-Z a-z 0-9 - _ .`, not `.` or `..`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,64}$"
    )]
    pub sku: String,
    /// 1 to 1000; added to what the cart already holds (at most 1000 per line).
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

/// `PATCH /cart/items/{sku}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityBody {
    /// 1 to 1000 (0 is refused: remove a line with `DELETE /cart/items/{sku}`).
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView, description = "at the catalog's current prices"), (status = 401, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn get(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let cart = ctx
        .mom
        .ask(
            &GetCart {
                user_id: caller.user_id,
            },
            wait_budget(&ctx, &req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(cart))
}

#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", security(("bearer" = [])), request_body = AddItemBody,
    responses((status = 200, body = CartView), (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 404, body = ProblemBody, description = "unknown sku"),
        (status = 409, body = ProblemBody, description = "the line would pass 1000 units, or the cart 100 lines"),
        (status = 422, body = ProblemBody, description = "quantity outside 1..=1000, malformed sku")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn add_item(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<AddItemBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = AddItem {
        user_id: caller.user_id,
        sku: b.sku,
        quantity: b.quantity,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(patch, path = "/api/v1/cart/items/{sku}", tag = "cart", security(("bearer" = [])), request_body = QuantityBody,
    params(("sku" = String, Path)),
    responses((status = 200, body = CartView), (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 404, body = ProblemBody, description = "not in the cart"),
        (status = 422, body = ProblemBody, description = "quantity outside 1..=1000")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn set_quantity(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    sku: web::Path<String>,
    body: Json<QuantityBody>,
) -> Result<HttpResponse, ApiError> {
    let cmd = SetQuantity {
        user_id: caller.user_id,
        sku: sku.into_inner(),
        quantity: body.quantity,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(delete, path = "/api/v1/cart/items/{sku}", tag = "cart", security(("bearer" = [])),
    params(("sku" = String, Path)),
    responses((status = 200, body = CartView), (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 404, body = ProblemBody, description = "not in the cart")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn remove_item(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cmd = RemoveItem {
        user_id: caller.user_id,
        sku: sku.into_inner(),
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(delete, path = "/api/v1/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView, description = "the (now empty) cart"),
        (status = 202, description = "accepted; poll Location"), (status = 401, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn clear(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let cmd = ClearCart {
        user_id: caller.user_id,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(get, add_item, set_quantity, remove_item, clear),
    components(schemas(CartView, CartItem, AddItemBody, QuantityBody)),
    tags((name = "cart", description = "The caller's cart, priced from the catalog; cleared by an order placed from it. A product deleted from the catalog leaves every cart."))
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/cart")
            .route(web::get().to(get))
            .route(web::delete().to(clear)),
    )
    .route("/cart/items", web::post().to(add_item))
    .service(
        web::resource("/cart/items/{sku}")
            .route(web::patch().to(set_quantity))
            .route(web::delete().to(remove_item)),
    );
}
