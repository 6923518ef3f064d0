//! One mapping from [`Problem`] to gRPC status codes.
use tonic::{Code, Status};

use crate::{
    mom::MomError,
    problem::{Problem, ProblemKind},
};

pub fn code_of(kind: ProblemKind) -> Code {
    match kind {
        ProblemKind::BadRequest | ProblemKind::Unprocessable => Code::InvalidArgument,
        ProblemKind::Unauthorized => Code::Unauthenticated,
        ProblemKind::Forbidden => Code::PermissionDenied,
        ProblemKind::NotFound => Code::NotFound,
        ProblemKind::Conflict => Code::FailedPrecondition,
        ProblemKind::TooLarge | ProblemKind::RateLimited => Code::ResourceExhausted,
        ProblemKind::Unavailable => Code::Unavailable,
        ProblemKind::Internal => Code::Internal,
    }
}

/// The status for a problem, its stable code in `x-error-code` metadata.
pub fn status(p: Problem) -> Status {
    let mut s = Status::new(code_of(p.kind), p.detail.clone());
    if let Ok(v) = tonic::metadata::MetadataValue::try_from(p.code()) {
        s.metadata_mut().insert(ERROR_CODE, v);
    }
    s
}

/// The metadata key carrying a problem's stable code.
pub const ERROR_CODE: &str = "x-error-code";

pub fn mom_status(e: MomError) -> Status {
    status(e.into())
}
