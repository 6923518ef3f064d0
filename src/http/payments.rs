//! REST routes of `payments`: `POST /payments/validate`,
//! `GET /payments/{order_id}`.
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::OpenApi;
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{wait_budget, Auth},
};
use crate::{
    actors::payments::{CardCheck, GetPayment, PaymentView, ValidateCard},
    context::NodeCtx,
};

/// A card to check (never stored, never journaled).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateCardBody {
    /// 12 to 19 digits; spaces and dashes are ignored. Any string is
    /// checked: an invalid card is `valid: false`, not an error.
    pub number: String,
    /// MM/YY
    pub expiry: String,
    pub cvv: String,
}

#[utoipa::path(post, path = "/api/v1/payments/validate", tag = "payments", security(("bearer" = [])),
    request_body = ValidateCardBody,
    responses((status = 200, body = CardCheck, description = "an invalid card is `valid: false` with the reason"),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn validate(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<ValidateCardBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let q = ValidateCard {
        number: body.number,
        expiry: body.expiry,
        cvv: body.cvv,
    };
    let check = ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(check))
}

#[utoipa::path(get, path = "/api/v1/payments/{order_id}", tag = "payments", security(("bearer" = [])),
    params(("order_id" = Uuid, Path)),
    responses((status = 200, body = PaymentView), (status = 401, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "no payment for that order, or not yours")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn get_payment(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    order_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let q = GetPayment {
        order_id: order_id.into_inner(),
        user_id: caller.user_id,
        admin: caller.is_admin(),
    };
    let p = ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(p))
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(validate, get_payment),
    components(schemas(ValidateCardBody, CardCheck, PaymentView)),
    tags((name = "payments", description = "Card checks and order payments"))
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/payments/validate", web::post().to(validate))
        .route("/payments/{order_id}", web::get().to(get_payment));
}
