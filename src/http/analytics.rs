//! `/analytics/sales` (admin): the sales report built from consumed events.
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::OpenApi;

use super::{
    error::{ApiError, ProblemBody},
    extract::{wait_budget, Admin},
};
use crate::{
    actors::analytics::{DaySales, GetSales, InventoryCounters, ProductSales, SalesReport},
    context::NodeCtx,
};

/// `?from=&to=`: RFC 3339 timestamps or YYYY-MM-DD dates (UTC, whole days),
/// both optional and inclusive.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SalesQuery {
    /// First instant or day counted.
    pub from: Option<String>,
    /// Last instant or day counted.
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/analytics/sales", tag = "analytics", security(("bearer" = ["admin"])),
    params(SalesQuery),
    responses((status = 200, body = SalesReport), (status = 400, body = ProblemBody, description = "unparsable from/to"),
        (status = 403, body = ProblemBody), (status = 422, body = ProblemBody, description = "from after to")))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn sales(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    q: web::Query<SalesQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = GetSales::parse(q.from.as_deref(), q.to.as_deref())?;
    let report = ctx.mom.ask(&query, wait_budget(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(sales),
    components(schemas(SalesReport, ProductSales, DaySales, InventoryCounters)),
    tags((name = "analytics", description = "Sales totals from consumed events (admin)"))
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics/sales", web::get().to(sales));
}
