//! The REST contract: the OpenAPI document says what the node answers
//! (problem+json errors, the common statuses, the enforced limits), and the
//! small rules it states hold — unaddressable names refused, RFC 5321's
//! local-part limit, no control characters in a search, and the permission
//! check before the request's content on queues and topics.
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{email, Node};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                out.push((m.to_string(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn secured(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|r| {
        r.iter()
            .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    })
}

fn header_param<'a>(op: &'a Value, name: &str) -> Option<&'a Value> {
    op["parameters"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["in"] == "header" && p["name"].as_str() == Some(name))
    })
}

#[tokio::test]
async fn the_openapi_document_documents_problem_json_and_every_common_answer() {
    let node = Node::start().await;
    let doc: Value = node
        .client
        .get(node.url("/openapi.json"))
        .send()
        .await
        .expect("openapi.json")
        .json()
        .await
        .expect("a JSON document");
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "only {} operations documented", ops.len());

    let mut missing = Vec::new();
    for (method, path, op) in &ops {
        let responses = op["responses"].as_object().expect("responses");
        let has = |code: &str| responses.contains_key(code);
        let mut need = |cond: bool, what: String| {
            if cond {
                missing.push(format!("{} {path}: {what}", method.to_uppercase()));
            }
        };
        for (code, r) in responses {
            // Under /api/v1 every error is a problem (`/readyz`'s 503 is a
            // readiness report).
            if code.as_str() >= "400" && path.starts_with("/api/v1/") {
                let content: Vec<&String> = r["content"]
                    .as_object()
                    .map(|c| c.keys().collect())
                    .unwrap_or_default();
                need(
                    content != ["application/problem+json"],
                    format!("{code} is documented as {content:?}, not application/problem+json"),
                );
                need(
                    r["content"]["application/problem+json"]["schema"]["$ref"]
                        != "#/components/schemas/ProblemBody",
                    format!("{code} does not use ProblemBody"),
                );
            }
        }
        need(secured(op) && !has("401"), "secured but no 401".into());
        need(
            op.get("requestBody").is_some() && !has("413"),
            "takes a body but no 413".into(),
        );
        need(
            op.get("requestBody").is_some() && !has("422"),
            "takes a body but no 422".into(),
        );
        need(
            path.starts_with("/api/v1/auth/") && !has("429"),
            "rate limited but no 429".into(),
        );
        need(
            path.starts_with("/api/v1/auth/")
                && responses
                    .get("429")
                    .is_some_and(|r| r["headers"].get("Retry-After").is_none()),
            "429 without Retry-After".into(),
        );
        need(
            path.starts_with("/api/v1/")
                && !path.starts_with("/api/v1/admin/faults")
                && path != "/api/v1/admin/actors"
                && responses
                    .get("503")
                    .is_none_or(|r| r["headers"].get("Retry-After").is_none()),
            "no 503 with Retry-After".into(),
        );
        need(
            op["security"].to_string().contains("admin") && !has("403"),
            "admin only but no 403".into(),
        );
        if let Some(accepted) = responses.get("202") {
            need(
                accepted["headers"].get("Location").is_none(),
                "202 without Location".into(),
            );
            if path != "/api/v1/admin/dead-letters/{id}/retry" {
                let key = header_param(op, "Idempotency-Key");
                need(
                    key.is_none_or(|k| {
                        k["schema"]["maxLength"] != 255 || k["schema"]["minLength"] != 1
                    }),
                    "a command without Idempotency-Key (1 to 255)".into(),
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the document misses:\n{}",
        missing.join("\n")
    );

    // The enforced limits are in the schemas.
    let schemas = &doc["components"]["schemas"];
    let page_size = doc["paths"]["/api/v1/transfers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page_size")
        .expect("page_size documented")
        .clone();
    assert_eq!(page_size["schema"]["maximum"], 100, "{page_size}");
    let queue_name = &schemas["CreateQueueBody"]["properties"]["name"];
    assert_eq!(
        queue_name["pattern"],
        mailroom::actors::queues::NAME_PATTERN,
        "{queue_name}"
    );
    assert_eq!(
        schemas["NewProductBody"]["properties"]["sku"]["pattern"],
        mailroom::actors::catalog::SKU_PATTERN
    );
    let path_name = doc["paths"]["/api/v1/queues/{name}"]["get"]["parameters"][0].clone();
    assert_eq!(
        path_name["schema"]["pattern"],
        mailroom::actors::queues::NAME_PATTERN,
        "{path_name}"
    );
    assert_eq!(
        schemas["DepositBody"]["properties"]["amount_cents"]["maximum"],
        mailroom::actors::wallets::MAX_AMOUNT_CENTS
    );
    assert_eq!(
        schemas["PublishBody"]["properties"]["body"]["maxLength"],
        mailroom::actors::queues::MAX_BODY
    );
    assert_eq!(
        schemas["RegisterBody"]["properties"]["email"]["maxLength"],
        mailroom::actors::users::MAX_EMAIL
    );
}

#[tokio::test]
async fn errors_are_served_as_the_document_says() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    // 401 with WWW-Authenticate, 422, 404, 400: problem+json every time.
    type Case<'a> = (Method, &'a str, Option<&'a str>, Option<Value>, StatusCode);
    let cases: Vec<Case> = vec![
        (Method::GET, "/wallet", None, None, StatusCode::UNAUTHORIZED),
        (
            Method::POST,
            "/wallet/deposit",
            Some(&ann),
            Some(json!({"amount_cents": 0})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/queues/nope",
            Some(&ann),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/orders/not-a-uuid",
            Some(&ann),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/admin/actors",
            Some(&ann),
            None,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (method, path, token, body, want) in cases {
        let (s, v, h) = node.call(method.clone(), path, token, body, &[]).await;
        assert_eq!(s, want, "{method} {path}: {v}");
        assert_eq!(
            h.get("content-type").and_then(|c| c.to_str().ok()),
            Some("application/problem+json"),
            "{method} {path}"
        );
        assert_eq!(v["status"], want.as_u16(), "{v}");
        if want == StatusCode::UNAUTHORIZED {
            assert_eq!(
                h.get("www-authenticate").and_then(|c| c.to_str().ok()),
                Some("Bearer")
            );
        }
    }
    // A 202 carries Location and the operation, as documented: a command
    // that cannot finish in a zero wait budget.
    let (s, v, h) = node
        .call(
            Method::POST,
            "/wallet/deposit",
            Some(&ann),
            Some(json!({"amount_cents": 5})),
            &[("prefer", "wait=0")],
        )
        .await;
    if s == StatusCode::ACCEPTED {
        let location = h.get("location").and_then(|l| l.to_str().ok()).unwrap();
        assert_eq!(v["location"], location, "{v}");
        assert_eq!(
            h.get("x-operation-id").and_then(|l| l.to_str().ok()),
            v["id"].as_str()
        );
    } else {
        // It finished at once: also allowed by the contract.
        assert_eq!(s, StatusCode::OK, "{v}");
    }
}

#[tokio::test]
async fn queue_topic_and_sku_names_no_url_can_address_are_refused() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let admin = node.admin_token().await;
    for bad in [".", ".."] {
        let (s, v) = node.post("/queues", Some(&ann), json!({"name": bad})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "queue {bad:?}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains("`..`"),
            "the rule is said: {v}"
        );
        let (s, v) = node.post("/topics", Some(&ann), json!({"name": bad})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "topic {bad:?}: {v}");
        let (s, v) = node
            .post(
                "/products",
                Some(&admin),
                json!({"sku": bad, "title": "T", "category": "c", "price_cents": 100}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "sku {bad:?}: {v}");
    }
    // Nothing was created.
    let (s, v) = node.get("/queues", &ann).await;
    assert_eq!((s, v["total"].as_u64()), (StatusCode::OK, Some(0)), "{v}");
    // Dots are fine elsewhere in a name, and such a queue is addressable.
    let (s, v) = node
        .post("/queues", Some(&ann), json!({"name": "..."}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = node.get("/queues/...", &ann).await;
    assert_eq!((s, &v["name"]), (StatusCode::OK, &json!("...")), "{v}");
    let (s, v) = node
        .post("/topics", Some(&ann), json!({"name": "a.b"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn an_email_local_part_over_64_bytes_is_refused() {
    let node = Node::start().await;
    let long = format!("{}@example.com", "a".repeat(65));
    let (s, v) = node
        .post(
            "/auth/register",
            None,
            json!({"email": long, "password": crate::support::PASSWORD, "name": "Long"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("64"), "{v}");
    let (s, _) = node.login(&long, crate::support::PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "no account was made");
    // 64 is the limit, not past it.
    let ok = format!("{}@example.com", "b".repeat(64));
    let (token, _) = node.register(&ok).await;
    // No account can have such an address: a transfer to it finds no one.
    let (s, v) = node.transfer(&token, &long, 1).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // A grant checks the address's form.
    node.post("/queues", Some(&token), json!({"name": "q"}))
        .await;
    let (s, v) = grant(&node, &token, "q", &long).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

/// `email` may publish to `queue` (granted by its owner, `token`).
async fn grant(node: &Node, token: &str, queue: &str, email: &str) -> (StatusCode, Value) {
    node.post(
        &format!("/queues/{queue}/grants"),
        Some(token),
        json!({"user_email": email, "permissions": ["publish"]}),
    )
    .await
}

#[tokio::test]
async fn a_search_with_a_control_character_is_refused_not_the_whole_catalogue() {
    let node = Node::start().await;
    let client = &node.client;
    let all: Value = client
        .get(node.url("/products?page_size=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["total"].as_u64().unwrap() > 0, "the demo catalogue");
    for q in [
        "q=%00",
        "q=rust%00",
        "q=%01",
        "q=%7F",
        "category=%00",
        "q=%C2%85",
    ] {
        let res = client
            .get(node.url(&format!("/products?{q}")))
            .send()
            .await
            .unwrap();
        let (s, v, h) = crate::support::split(res).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {v}");
        assert_eq!(
            h.get("content-type").and_then(|c| c.to_str().ok()),
            Some("application/problem+json")
        );
        assert!(
            v["detail"].as_str().unwrap().contains("control characters"),
            "{v}"
        );
    }
    // An ordinary search still narrows.
    let some: Value = client
        .get(node.url("/products?q=AUSTEN"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(some["total"], 1, "{some}");
    assert_eq!(some["items"][0]["sku"], "BK-0001", "{some}");
}

/// `ann` owns `jobs` and topic `news`; `bob` holds nothing, `cat` may
/// publish to `jobs` only.
async fn queue_owners(node: &Node) -> (String, String, String) {
    let (ann, _) = node.register(&email("ann")).await;
    let (bob, _) = node.register(&email("bob")).await;
    let cat_email = email("cat");
    let (cat, _) = node.register(&cat_email).await;
    let (s, v) = node
        .post("/queues", Some(&ann), json!({"name": "jobs"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = node
        .post("/topics", Some(&ann), json!({"name": "news"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = grant(node, &ann, "jobs", &cat_email).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (ann, bob, cat)
}

/// A request with a raw body (so it can be malformed or huge).
async fn raw(
    node: &Node,
    method: Method,
    path: &str,
    token: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = node
        .client
        .request(method, node.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (s, v, _) = crate::support::split(req.send().await.unwrap()).await;
    (s, v)
}

#[tokio::test]
async fn on_a_queue_you_may_not_use_the_permission_check_answers_before_the_body() {
    let node = Node::start().await;
    let (ann, bob, cat) = queue_owners(&node).await;
    let id = uuid::Uuid::now_v7().to_string();
    let huge = serde_json::to_vec(&json!({"body": "x".repeat(300 * 1024)})).unwrap();
    // (method, path, body, headers, what the owner gets for it)
    type Bad = (
        Method,
        String,
        Vec<u8>,
        Vec<(&'static str, &'static str)>,
        StatusCode,
    );
    let bad: Vec<Bad> = vec![
        (
            Method::POST,
            "/queues/jobs/messages".into(),
            br#"{"body": "x", "delay_s": 999999}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/queues/jobs/messages".into(),
            br#"{"body": 5}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/queues/jobs/messages".into(),
            b"{\"body\": ".to_vec(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/queues/jobs/messages".into(),
            huge.clone(),
            vec![],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::POST,
            "/queues/jobs/messages".into(),
            br#"{"body": "x"}"#.to_vec(),
            vec![("idempotency-key", "")],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/queues/jobs/receive".into(),
            br#"{"wait_s": 99}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("/queues/jobs/messages/{id}/ack"),
            br#"{"receipt": ""}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/queues/jobs/messages/not-a-uuid/ack".into(),
            br#"{"receipt": "r"}"#.to_vec(),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/queues/jobs/messages/{id}/nack"),
            br#"{"receipt": "r"}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/queues/jobs/ack".into(),
            br#"{"acks": []}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/queues/jobs/dead-letters?page_size=500".into(),
            vec![],
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/queues/jobs/dead-letters/not-a-uuid/redrive".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/queues/jobs/grants".into(),
            br#"{"user_email": "nobody", "permissions": []}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::DELETE,
            "/queues/jobs".into(),
            vec![],
            vec![("idempotency-key", "")],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/topics/news/messages".into(),
            br#"{"routing_key": "a.*", "body": "x"}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/topics/news/subscriptions".into(),
            br#"{"queue": "jobs", "pattern": "a b"}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/topics/news/grants".into(),
            br#"{"user_email": "nobody", "permissions": []}"#.to_vec(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (method, path, body, headers, owner_gets) in &bad {
        let (s, v) = raw(&node, method.clone(), path, &bob, body.clone(), headers).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "bob {method} {path}: {v}");
        // The same request on a name that does not exist: 404.
        let missing = path.replace("/jobs", "/nojobs").replace("/news", "/nonews");
        let (s, v) = raw(&node, method.clone(), &missing, &bob, body.clone(), headers).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "bob {method} {missing}: {v}");
        // Whoever may use it hears about the content.
        let (s, v) = raw(&node, method.clone(), path, &ann, body.clone(), headers).await;
        assert_eq!(s, *owner_gets, "ann {method} {path}: {v}");
    }
    // cat may publish (so hears about a bad message) but not consume.
    let (s, v) = raw(
        &node,
        Method::POST,
        "/queues/jobs/messages",
        &cat,
        br#"{"body": "x", "delay_s": 999999}"#.to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = raw(
        &node,
        Method::POST,
        "/queues/jobs/receive",
        &cat,
        br#"{"wait_s": 99}"#.to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // And none of it changed anything.
    let (s, v) = node.get("/queues/jobs", &ann).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["depth"].as_i64(), v["dead"].as_i64()),
        (Some(0), Some(0))
    );
}
