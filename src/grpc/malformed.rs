//! A request the server cannot read is the client's fault: every method
//! answers `INVALID_ARGUMENT` for it, never `INTERNAL`.
//!
//! tonic decodes a request before the method runs, and maps what it cannot
//! read — undecodable protobuf (tonic-prost), a bad frame header, a body cut
//! short, no message at all — to `INTERNAL`, as gRPC's own status guide
//! says. mailroom's contract is that bad input gets a client-error code, so
//! [`Malformed`] (one tower layer around every service) rewrites exactly
//! those statuses, in trailers-only responses and in trailers (streaming
//! requests); a frame over the size limit (tonic: `OUT_OF_RANGE`) becomes
//! `RESOURCE_EXHAUSTED`, as REST's 413. A request whose `content-type` is not gRPC is refused before
//! any decoding with HTTP 415 and `grpc-status: 3`.
//!
//! Decoding happens first, so an undecodable request gets
//! `INVALID_ARGUMENT` even without a token; `UNAUTHENTICATED` is for
//! readable requests.
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{header, HeaderMap, HeaderValue};
use tonic::{Code, Status};

/// How tonic 0.14 and tonic-prost 0.14 word a request they could not read
/// (the garbage scenario test sends each case to every method, so a
/// rewording in an upgrade fails it).
const DECODE_FAILURES: &[&str] = &[
    // tonic-prost: any prost::DecodeError.
    "failed to decode Protobuf message",
    // tonic: a frame whose compression flag is neither 0 nor 1, or 1 with no grpc-encoding.
    "protocol error: received message with",
    // tonic: the body ended inside a frame.
    "Unexpected EOF decoding stream",
    // tonic: a unary call whose body had no message.
    "Missing request message",
];

/// tonic's words for a frame longer than the method's limit, which it
/// answers `OUT_OF_RANGE`; too large is `RESOURCE_EXHAUSTED` (as REST's 413
/// in [`super::status`], and as gRPC's own servers say).
const TOO_LARGE: &str = "Error, decoded message length too large";

/// The client-error code for a status tonic gave a request it could not
/// read; `None` for every other status.
pub fn client_fault(status: &Status) -> Option<Code> {
    let msg = status.message();
    match status.code() {
        Code::Internal if DECODE_FAILURES.iter().any(|p| msg.starts_with(p)) => {
            Some(Code::InvalidArgument)
        }
        Code::OutOfRange if msg.starts_with(TOO_LARGE) => Some(Code::ResourceExhausted),
        _ => None,
    }
}

/// Rewrites a decode failure's status in `headers` (response headers of a
/// trailers-only response, or trailers) to its client-error code.
fn rewrite(headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some(code) = client_fault(&status) else {
        return;
    };
    let fixed = Status::new(code, format!("malformed request: {}", status.message()));
    for h in [
        Status::GRPC_STATUS,
        Status::GRPC_MESSAGE,
        Status::GRPC_STATUS_DETAILS,
    ] {
        headers.remove(h);
    }
    if fixed.add_header(headers).is_err() {
        headers.insert(Status::GRPC_STATUS, HeaderValue::from(code as i32));
    }
}

/// `application/grpc` or `application/grpc+proto`, with or without parameters.
fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let base = ct.split(';').next().unwrap_or("").trim();
    base.eq_ignore_ascii_case("application/grpc")
        || base.eq_ignore_ascii_case("application/grpc+proto")
}

/// The layer: see the module doc.
#[derive(Clone)]
pub struct Malformed<S> {
    inner: S,
}

impl<S> Malformed<S> {
    pub fn layer() -> impl tower::Layer<S, Service = Self> + Clone {
        tower::layer::layer_fn(|inner| Malformed { inner })
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for Malformed<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Send + 'static,
{
    type Response = http::Response<MalformedBody<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !is_grpc(req.headers()) {
            let mut res = http::Response::new(MalformedBody::Empty);
            *res.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            let status = Status::invalid_argument(
                "content-type must be application/grpc or application/grpc+proto",
            );
            if status.add_header(res.headers_mut()).is_err() {
                res.headers_mut()
                    .insert(Status::GRPC_STATUS, HeaderValue::from_static("3"));
            }
            return Box::pin(std::future::ready(Ok(res)));
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            rewrite(res.headers_mut());
            Ok(res.map(MalformedBody::Inner))
        })
    }
}

/// The inner response body with its trailers checked, or nothing (a
/// refused content type).
pub enum MalformedBody<B> {
    Inner(B),
    Empty,
}

impl<B: http_body::Body + Unpin> http_body::Body for MalformedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            MalformedBody::Empty => Poll::Ready(None),
            MalformedBody::Inner(b) => {
                let mut frame = std::task::ready!(Pin::new(b).poll_frame(cx));
                if let Some(Ok(f)) = &mut frame {
                    if let Some(trailers) = f.trailers_mut() {
                        rewrite(trailers);
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MalformedBody::Empty => true,
            MalformedBody::Inner(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            MalformedBody::Empty => http_body::SizeHint::with_exact(0),
            MalformedBody::Inner(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(s: &Status) -> HeaderMap {
        let mut h = HeaderMap::new();
        s.add_header(&mut h).unwrap();
        h
    }

    #[test]
    fn tonic_decode_failures_become_invalid_argument() {
        for msg in [
            "failed to decode Protobuf message: LoginRequest.email: invalid string value",
            "protocol error: received message with invalid compression flag: 123 (valid flags are 0 and 1), while sending request",
            "Unexpected EOF decoding stream.",
            "Missing request message.",
        ] {
            let mut h = headers_of(&Status::internal(msg));
            rewrite(&mut h);
            let s = Status::from_header_map(&h).unwrap();
            assert_eq!(s.code(), Code::InvalidArgument, "{msg}");
            assert!(s.message().ends_with(msg), "{}", s.message());
        }
    }

    #[test]
    fn an_oversized_frame_is_resource_exhausted() {
        let mut h = headers_of(&Status::out_of_range(
            "Error, decoded message length too large: found 67108864 bytes, the limit is: 1048576 bytes",
        ));
        rewrite(&mut h);
        assert_eq!(
            Status::from_header_map(&h).unwrap().code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for s in [
            Status::internal("the store is broken"),
            Status::unauthenticated("failed to decode Protobuf message"),
            Status::not_found("no such order"),
        ] {
            let mut h = headers_of(&s);
            rewrite(&mut h);
            let got = Status::from_header_map(&h).unwrap();
            assert_eq!((got.code(), got.message()), (s.code(), s.message()));
        }
    }

    #[test]
    fn only_grpc_content_types_pass() {
        let ct = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            is_grpc(&h)
        };
        assert!(ct("application/grpc"));
        assert!(ct("application/grpc+proto"));
        assert!(ct("Application/GRPC; charset=utf-8"));
        assert!(!ct("application/json"));
        assert!(!ct("application/grpc+json"));
        assert!(!ct("application/grpcx"));
        assert!(!is_grpc(&HeaderMap::new()));
    }
}
