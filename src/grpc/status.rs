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

pub fn status(p: Problem) -> Status {
    Status::new(code_of(p.kind), p.detail)
}

pub fn mom_status(e: MomError) -> Status {
    status(e.into())
}
