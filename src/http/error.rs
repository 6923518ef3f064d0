//! One mapping from [`Problem`] to HTTP: problem+json (RFC 9457).
use actix_web::{
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{header, StatusCode},
    HttpResponse, ResponseError,
};
use serde::Serialize;

use crate::{
    mom::MomError,
    problem::{Problem, ProblemKind},
};

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// A URI naming the problem kind, e.g. `/problems/conflict`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable, machine-readable code to match on (the README's error
    /// table lists them): a service's own (`wallet.insufficient_funds`) or
    /// the kind's (`not_found`). The `detail` text may change; this does not.
    #[schema(example = "wallet.insufficient_funds")]
    pub code: String,
}

#[derive(Debug)]
pub struct ApiError(pub Problem);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.detail)
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(p)
    }
}

impl From<MomError> for ApiError {
    fn from(e: MomError) -> Self {
        ApiError(e.into())
    }
}

pub fn status_of(kind: ProblemKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Renders a problem as problem+json.
pub fn problem_response(p: &Problem) -> HttpResponse {
    let status = status_of(p.kind);
    let kind = serde_json::to_value(p.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let body = ProblemBody {
        kind: format!("/problems/{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: p.detail.clone(),
        code: p.code().to_owned(),
    };
    let mut res = HttpResponse::build(status);
    res.content_type("application/problem+json");
    match p.kind {
        // A rate limiter that knows better (the per-address one) replaces it.
        ProblemKind::Unavailable | ProblemKind::RateLimited => {
            res.insert_header((header::RETRY_AFTER, "1"));
        }
        ProblemKind::Unauthorized => {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        _ => {}
    }
    res.body(serde_json::to_string(&body).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.kind)
    }
    fn error_response(&self) -> HttpResponse {
        if self.0.kind == ProblemKind::Internal {
            tracing::error!(detail = %self.0.detail, "request failed");
        }
        problem_response(&self.0)
    }
}

/// Body errors: syntax → 400, wrong types/values → 422, too big → 413.
pub fn json_error(err: JsonPayloadError) -> ApiError {
    ApiError(match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            Problem::new(ProblemKind::TooLarge, "request body is larger than 1 MiB")
        }
        JsonPayloadError::ContentType => {
            Problem::bad_request("Content-Type must be application/json")
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            Problem::invalid(format!("invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => Problem::bad_request(format!("malformed JSON: {e}")),
        other => Problem::bad_request(format!("unreadable request body: {other}")),
    })
}

pub fn query_error(err: QueryPayloadError) -> ApiError {
    ApiError(Problem::bad_request(format!("invalid query string: {err}")))
}

pub fn path_error(err: PathError) -> ApiError {
    ApiError(Problem::bad_request(format!(
        "invalid path parameter: {err}"
    )))
}
