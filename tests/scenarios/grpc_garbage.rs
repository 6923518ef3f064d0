//! Garbage to every gRPC method: each undecodable shape answers
//! INVALID_ARGUMENT (an oversized frame RESOURCE_EXHAUSTED), never
//! INTERNAL, with no token (decoding comes before authentication), and the
//! node stays healthy. The methods come from the descriptor sets the node
//! serves, so a new method is covered without touching this test.
use http_body_util::BodyExt as _;
use mailroom::grpc::pb;
use prost::Message as _;
use prost_types::{field_descriptor_proto::Type, FileDescriptorSet};
use reqwest::StatusCode;
use tonic::{transport::Channel, Code, Status};
use tower::ServiceExt as _;

use crate::support::{channel, Node};

struct Method {
    path: String,
    /// A top-level string field of the request message, if it has one.
    string_field: Option<i32>,
    client_streaming: bool,
}

fn methods(sets: &[&[u8]]) -> Vec<Method> {
    let files: Vec<_> = sets
        .iter()
        .flat_map(|b| FileDescriptorSet::decode(*b).expect("descriptor set").file)
        .collect();
    let message = |full: &str| {
        files.iter().find_map(|f| {
            f.message_type
                .iter()
                .find(|m| format!(".{}.{}", f.package(), m.name()) == full)
        })
    };
    let mut out = Vec::new();
    for f in &files {
        for s in &f.service {
            for m in &s.method {
                let input = message(m.input_type())
                    .unwrap_or_else(|| panic!("no message {}", m.input_type()));
                out.push(Method {
                    path: format!("/{}.{}/{}", f.package(), s.name(), m.name()),
                    string_field: input
                        .field
                        .iter()
                        .find(|fl| fl.r#type() == Type::String && fl.oneof_index.is_none())
                        .map(|fl| fl.number()),
                    client_streaming: m.client_streaming(),
                });
            }
        }
    }
    out
}

/// A gRPC length-prefixed message.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![flag];
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b
}

struct Shape {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    want: Code,
}

fn shapes(m: &Method) -> Vec<Shape> {
    let grpc = "application/grpc";
    let bad = |name, body| Shape {
        name,
        content_type: grpc,
        body,
        want: Code::InvalidArgument,
    };
    let mut v = vec![
        bad("truncated varint", frame(0, &[0x08, 0xff])),
        bad("wire type 7", frame(0, &[0x0f, 0x00])),
        bad("field number 0", frame(0, &[0x00, 0x01])),
        bad("length past the end", frame(0, &[0x0a, 0x64, b'a'])),
        bad("a frame cut short", {
            let mut f = frame(0, &[0u8; 100]);
            f.truncate(8);
            f
        }),
        bad("not a gRPC frame", br#"{"email":"a@example.com"}"#.to_vec()),
        bad(
            "compressed flag without grpc-encoding",
            frame(1, &[0x08, 0x01]),
        ),
        Shape {
            name: "JSON content type",
            content_type: "application/json",
            body: br#"{"email":"a@example.com"}"#.to_vec(),
            want: Code::InvalidArgument,
        },
        Shape {
            name: "frame over the size limit",
            content_type: grpc,
            body: {
                let mut b = vec![0];
                // Past every service's limit (ours 1 MiB, tonic's default 4 MiB).
                b.extend_from_slice(&(64u32 << 20).to_be_bytes());
                b
            },
            want: Code::ResourceExhausted,
        },
    ];
    if !m.client_streaming {
        v.push(bad("no message", Vec::new()));
    }
    if let Some(n) = m.string_field {
        let tag = ((n as u32) << 3 | 2) as u8;
        assert!(n < 16, "one-byte tag");
        v.push(bad(
            "invalid UTF-8 in a string field",
            frame(0, &[tag, 2, 0xff, 0xfe]),
        ));
    }
    v
}

/// Sends raw bytes; returns the HTTP status and the gRPC status (from the
/// headers of a trailers-only answer, or from the trailers).
async fn send(ch: &Channel, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Status) {
    let req = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", content_type)
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::from(body)))
        .unwrap();
    let res = tokio::time::timeout(std::time::Duration::from_secs(10), ch.clone().oneshot(req))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer within 10 s"))
        .unwrap_or_else(|e| panic!("{path}: transport error {e}"));
    let http_status = res.status().as_u16();
    if let Some(s) = Status::from_header_map(res.headers()) {
        return (http_status, s);
    }
    let body = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        res.into_body().collect(),
    )
    .await
    .unwrap_or_else(|_| panic!("{path}: body not finished within 10 s"))
    .unwrap_or_else(|e| panic!("{path}: body error {e}"));
    let trailers = body
        .trailers()
        .unwrap_or_else(|| panic!("{path}: no grpc-status in headers or trailers"));
    (
        http_status,
        Status::from_header_map(trailers).expect("grpc-status in trailers"),
    )
}

#[tokio::test]
async fn garbage_to_every_grpc_method_is_invalid_argument_and_the_node_stays_healthy() {
    let node = Node::start().await;
    let ch = channel(&node).await;
    let ours = methods(&[pb::DESCRIPTOR, tonic_health::pb::FILE_DESCRIPTOR_SET]);
    assert!(ours.len() > 60, "{} methods", ours.len());
    assert!(ours
        .iter()
        .any(|m| m.path == "/mailroom.users.v1.Users/Login"));
    assert!(ours
        .iter()
        .any(|m| m.path == "/grpc.health.v1.Health/Watch"));
    let mut wrong = Vec::new();
    let mut sent = 0;
    for m in &ours {
        for shape in shapes(m) {
            let (http_status, s) = send(&ch, &m.path, shape.content_type, shape.body).await;
            sent += 1;
            if s.code() != shape.want {
                wrong.push(format!(
                    "{} / {}: {:?} {:?} (want {:?})",
                    m.path,
                    shape.name,
                    s.code(),
                    s.message(),
                    shape.want
                ));
            }
            if shape.content_type != "application/grpc" {
                assert_eq!(http_status, 415, "{}: a non-gRPC content type", m.path);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {sent} answers were wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Reflection is a bidirectional stream (tonic-reflection): a request it
    // cannot read ends the stream; never an INTERNAL.
    let reflection = methods(&[
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ]);
    assert_eq!(reflection.len(), 2);
    for m in &reflection {
        for shape in shapes(m) {
            let (_, s) = send(&ch, &m.path, shape.content_type, shape.body).await;
            assert_ne!(
                s.code(),
                Code::Internal,
                "{} / {}: {s:?}",
                m.path,
                shape.name
            );
            assert_ne!(
                s.code(),
                Code::Unknown,
                "{} / {}: {s:?}",
                m.path,
                shape.name
            );
        }
    }

    // Healthy afterwards: both edges answer, every actor runs.
    for path in ["/healthz", "/readyz"] {
        let res = node
            .client
            .get(format!("{}{path}", node.http))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let mut users = pb::users::users_client::UsersClient::new(ch.clone());
    let err = users
        .login(pb::users::LoginRequest {
            email: "nobody@example.com".into(),
            password: "not the password".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}
