//! The one error shape that crosses the MOM.
//!
//! A service's typed error (`UserError`, `WalletError`, ...) becomes a
//! [`Problem`] when it leaves the actor, because replies are persisted in the
//! journal and in the service's inbox. Each edge maps a [`ProblemKind`] once:
//! `src/http/error.rs` to an HTTP status with problem+json, `src/grpc/status.rs`
//! to a gRPC code.
use serde::{Deserialize, Serialize};

/// What went wrong, coarse enough to pick an HTTP status and a gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Malformed request (400 / INVALID_ARGUMENT).
    BadRequest,
    /// Missing or invalid credentials (401 / UNAUTHENTICATED).
    Unauthorized,
    /// Authenticated but not allowed (403 / PERMISSION_DENIED).
    Forbidden,
    /// Unknown resource (404 / NOT_FOUND).
    NotFound,
    /// State conflict: duplicate, insufficient funds (409 / FAILED_PRECONDITION or ALREADY_EXISTS).
    Conflict,
    /// Well-formed but invalid values (422 / INVALID_ARGUMENT).
    Unprocessable,
    /// Body too large (413 / RESOURCE_EXHAUSTED).
    TooLarge,
    /// Rate limited (429 / RESOURCE_EXHAUSTED).
    RateLimited,
    /// Could not even be persisted, or a read found its actor down (503 / UNAVAILABLE).
    Unavailable,
    /// A bug or a poison message (500 / INTERNAL).
    Internal,
}

impl ProblemKind {
    /// The generic code of a problem of this kind that names no code of its
    /// own (`not_found`, `conflict`, ...), as in its `type` URI.
    pub const fn code(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "bad_request",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not_found",
            ProblemKind::Conflict => "conflict",
            ProblemKind::Unprocessable => "unprocessable",
            ProblemKind::TooLarge => "too_large",
            ProblemKind::RateLimited => "rate_limited",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
        }
    }

    /// The HTTP status a problem of this kind answers with, on REST and in
    /// the console client's messages (gRPC maps in `grpc::status`).
    pub const fn http_status(self) -> u16 {
        match self {
            ProblemKind::BadRequest => 400,
            ProblemKind::Unauthorized => 401,
            ProblemKind::Forbidden => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::Conflict => 409,
            ProblemKind::Unprocessable => 422,
            ProblemKind::TooLarge => 413,
            ProblemKind::RateLimited => 429,
            ProblemKind::Unavailable => 503,
            ProblemKind::Internal => 500,
        }
    }

    pub const ALL: [ProblemKind; 10] = [
        ProblemKind::BadRequest,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::Conflict,
        ProblemKind::Unprocessable,
        ProblemKind::TooLarge,
        ProblemKind::RateLimited,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
    ];
}

/// A failure with a human-readable detail; safe to show to the caller.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, utoipa::ToSchema,
)]
#[error("{kind:?}: {detail}")]
pub struct Problem {
    pub kind: ProblemKind,
    /// A stable, machine-readable code (`wallet.insufficient_funds`); empty
    /// means the kind's generic code (see [`Problem::code`]). Records written
    /// before codes existed have none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    pub detail: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code: String::new(),
            detail: detail.into(),
        }
    }
    /// The same problem with a specific code.
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = code.to_owned();
        self
    }
    /// The stable code clients match on: the problem's own, else its kind's.
    pub fn code(&self) -> &str {
        if self.code.is_empty() {
            self.kind.code()
        } else {
            &self.code
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::BadRequest, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unauthorized, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Forbidden, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Conflict, detail)
    }
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unprocessable, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unavailable, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Internal, detail)
    }
}

/// Shared page parameters: `page` from 1, `page_size` 1..=100 (default 20).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub page_size: u32,
}

impl Page {
    pub const MAX_SIZE: u32 = 100;

    /// Validates raw values (0 or absent means "default").
    pub fn new(page: Option<u32>, page_size: Option<u32>) -> Result<Self, Problem> {
        let page = page.filter(|p| *p != 0).unwrap_or(1);
        let page_size = page_size.filter(|s| *s != 0).unwrap_or(20);
        if page_size > Self::MAX_SIZE {
            return Err(Problem::invalid(format!(
                "page_size must be at most {}",
                Self::MAX_SIZE
            )));
        }
        if page > 1_000_000 {
            return Err(Problem::invalid("page is too large"));
        }
        Ok(Self { page, page_size })
    }
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.page_size)
    }
    pub fn limit(&self) -> i64 {
        i64::from(self.page_size)
    }
}

/// `{items, page, page_size, total}` — every list, on both edges.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
}

/// Milliseconds since the Unix epoch: how every store keeps time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 (UTC, milliseconds) for a stored timestamp.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
