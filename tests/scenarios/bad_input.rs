//! Bad input gets a clear 4xx problem+json and changes nothing.
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{email, Node};

fn is_problem(h: &reqwest::header::HeaderMap, v: &Value, status: StatusCode) {
    assert_eq!(
        h.get("content-type").and_then(|c| c.to_str().ok()),
        Some("application/problem+json"),
        "{v}"
    );
    assert_eq!(v["status"], status.as_u16(), "{v}");
    assert!(v["type"].as_str().unwrap().starts_with("/problems/"), "{v}");
    assert!(v["title"].is_string() && v["detail"].is_string(), "{v}");
}

async fn raw(
    node: &Node,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = node
        .client
        .request(method, node.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    crate::support::split(req.send().await.unwrap()).await
}

#[tokio::test]
async fn malformed_wrong_typed_and_oversized_bodies_change_nothing() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    node.register(&bob_email).await;
    node.deposit(&ann, 500).await;

    let (s, v, h) = raw(
        &node,
        Method::POST,
        "/transfers",
        Some(&ann),
        b"{\"to_email\": ".to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    is_problem(&h, &v, s);

    let (s, v, h) = raw(
        &node,
        Method::POST,
        "/transfers",
        Some(&ann),
        br#"{"to_email": 5, "amount_cents": "lots"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    is_problem(&h, &v, s);

    let (s, v, h) = raw(
        &node,
        Method::POST,
        "/transfers",
        Some(&ann),
        br#"{"to_email": "x@y.z", "amount_cents": 1, "surprise": true}"#.to_vec(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    is_problem(&h, &v, s);

    let big = format!(
        r#"{{"to_email": "{bob_email}", "amount_cents": 1, "note": "{}"}}"#,
        "x".repeat(3 << 20)
    );
    let (s, v, h) = raw(
        &node,
        Method::POST,
        "/transfers",
        Some(&ann),
        big.into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    is_problem(&h, &v, s);

    let (s, v, h) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": -5})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    is_problem(&h, &v, s);

    let (s, v, h) = node
        .call(Method::POST, "/transfers", Some(&ann), Some(json!({"to_email": bob_email, "to_user_id": uuid::Uuid::new_v4(), "amount_cents": 5})), &[])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "both recipients: {v}");
    is_problem(&h, &v, s);

    let (s, v, h) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": 5, "note": "n".repeat(501)})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    is_problem(&h, &v, s);

    let (s, v, h) = node
        .call(
            Method::POST,
            "/wallet/deposit",
            Some(&ann),
            Some(json!({"amount_cents": i64::MAX})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    is_problem(&h, &v, s);

    let long_key = "k".repeat(300);
    let (s, v, h) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": 5})),
            &[("Idempotency-Key", &long_key)],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    is_problem(&h, &v, s);

    // An array is not an object, even if its values line up with the fields.
    let (s, v, h) = raw(
        &node,
        Method::POST,
        "/wallet/deposit",
        Some(&ann),
        b"[500]".to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    is_problem(&h, &v, s);

    // Nothing moved.
    assert_eq!(node.balance(&ann).await, 500);
    assert_eq!(node.get("/transfers", &ann).await.1["total"], 0);
}

#[tokio::test]
async fn tokens_missing_forged_expired_or_alg_none_are_401() {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let node = Node::start().await;
    let (ann, ann_id) = node.register(&email("ann")).await;

    let (s, v, h) = node.call(Method::GET, "/wallet", None, None, &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    is_problem(&h, &v, s);
    assert_eq!(h.get("www-authenticate").unwrap(), "Bearer");

    let (s, _, _) = node
        .call(Method::GET, "/wallet", Some("not.a.jwt"), None, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Ann's token with the role flipped to admin: the signature breaks.
    let parts: Vec<&str> = ann.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let mut forged_claims = claims.clone();
    forged_claims["role"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    let (s, _, _) = node
        .call(Method::GET, "/admin/actors", Some(&forged), None, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // alg: none with admin claims.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(forged_claims.to_string())
    );
    let (s, v, h) = node
        .call(
            Method::POST,
            "/admin/faults",
            Some(&none),
            Some(json!({"actor": "wallets", "action": "kill"})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    is_problem(&h, &v, s);

    // Expired (signed with the node's own secret, read from its data dir).
    let secret = std::fs::read_to_string(node.data.join("jwt-secret")).unwrap();
    let now = chrono_now();
    let expired = jsonwebtoken_like_hs256(
        secret.trim().as_bytes(),
        &json!({"sub": ann_id, "role": "customer", "iat": now - 7200, "exp": now - 3600}),
    );
    let (s, v, _) = node
        .call(Method::GET, "/wallet", Some(&expired), None, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("expired"),
        "{v}"
    );
    // The same claims unexpired are accepted: the secret and encoding are right.
    let fresh = jsonwebtoken_like_hs256(
        secret.trim().as_bytes(),
        &json!({"sub": ann_id, "role": "customer", "iat": now, "exp": now + 3600}),
    );
    assert_eq!(
        node.call(Method::GET, "/wallet", Some(&fresh), None, &[])
            .await
            .0,
        StatusCode::OK
    );
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// HS256 by hand (hmac-sha256 via the `jsonwebtoken` crate the node uses).
fn jsonwebtoken_like_hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn unknown_routes_ids_and_pages_are_clear_4xx() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (s, v, h) = node.call(Method::GET, "/nope", Some(&ann), None, &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    is_problem(&h, &v, s);
    let (s, v, h) = node
        .call(Method::GET, "/operations/not-a-uuid", Some(&ann), None, &[])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    is_problem(&h, &v, s);
    let (s, _, _) = node
        .call(
            Method::GET,
            &format!("/operations/{}", uuid::Uuid::new_v4()),
            Some(&ann),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v, h) = node
        .call(
            Method::GET,
            "/transfers?page_size=1000",
            Some(&ann),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    is_problem(&h, &v, s);
    let (s, v, h) = node
        .call(Method::GET, "/transfers?page=abc", Some(&ann), None, &[])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    is_problem(&h, &v, s);
    let (s, _, _) = node
        .call(
            Method::POST,
            &format!("/notifications/{}/read", uuid::Uuid::new_v4()),
            Some(&ann),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hostile_strings_are_stored_verbatim_and_break_nothing() {
    let node = Node::start().await;
    let hostile = "Robert'); DROP TABLE users;-- <script>alert(1)</script> \u{202e}ü🦀";
    let e = email("mallory");
    let (s, v) = node
        .post(
            "/auth/register",
            None,
            json!({"email": e, "password": "p'; DROP TABLE users;--", "name": hostile}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["user"]["name"], hostile);
    let token = v["token"].as_str().unwrap();
    assert_eq!(node.get("/users/me", token).await.1["name"], hostile);
    assert_eq!(
        node.login(&e, "p'; DROP TABLE users;--").await.0,
        StatusCode::OK
    );
    // Control characters in a name are refused.
    let (s, _) = node
        .post(
            "/auth/register",
            None,
            json!({"email": email("ctl"), "password": "password123", "name": "bad\u{0007}name"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = node
        .post(
            "/auth/register",
            None,
            json!({"email": "not an email", "password": "password123", "name": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}
