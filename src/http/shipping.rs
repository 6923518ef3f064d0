//! REST routes of `shipping`: `GET /shipments/{order_id}`.
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::{wait_budget, Auth},
};
use crate::{
    actors::shipping::{GetShipment, ShipmentView},
    context::NodeCtx,
};

#[utoipa::path(get, path = "/api/v1/shipments/{order_id}", tag = "shipping", security(("bearer" = [])),
    params(("order_id" = Uuid, Path)),
    responses((status = 200, body = ShipmentView), (status = 401, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "no shipment for that order, or not yours")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn get_shipment(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    order_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let q = GetShipment {
        order_id: order_id.into_inner(),
        user_id: caller.user_id,
        admin: caller.is_admin(),
    };
    let s = ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(get_shipment),
    components(schemas(ShipmentView)),
    tags((name = "shipping", description = "Shipments: carrier, tracking number, status"))
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/shipments/{order_id}", web::get().to(get_shipment));
}
