//! REST routes of `inventory`.
use actix_web::web;
use utoipa::OpenApi;

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

pub fn routes(_cfg: &mut web::ServiceConfig) {}
