//! Accounts, wallets, transfers and notifications on the happy path.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{email, Node, PASSWORD};

#[tokio::test]
async fn register_login_and_the_usual_refusals() {
    let node = Node::start().await;
    let ann = email("ann");
    let (token, id) = node.register(&ann).await;

    let (s, me) = node.get("/users/me", &token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["email"], ann.as_str());
    assert_eq!(me["role"], "customer");
    assert!(me.get("password_hash").is_none(), "hash leaked: {me}");

    let (s, v) = node.login(&ann.to_uppercase(), PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "emails are case-insensitive: {v}");
    assert!(v["token"].as_str().unwrap().len() > 20);
    assert!(v["expires_at"].is_string());

    let (s, v) = node.login(&ann, "wrong password").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["status"], 401);
    let (s, _) = node.login(&email("nobody"), PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, v) = node
        .post(
            "/auth/register",
            None,
            json!({"email": ann, "password": PASSWORD, "name": "Again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    let (s, v) = node
        .post(
            "/auth/register",
            None,
            json!({"email": email("short"), "password": "short", "name": "S"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // PATCH name and password; the old password stops working.
    let (s, v, _) = node
        .call(
            Method::PATCH,
            "/users/me",
            Some(&token),
            Some(json!({"name": "Ann B", "password": "a new password"})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "Ann B");
    assert_eq!(node.login(&ann, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = node.login(&ann, "a new password").await;
    assert_eq!(s, StatusCode::OK);
    // The password change revoked the old token (issue 8); the new one works.
    assert_eq!(
        node.get("/users/me", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = v["token"].as_str().unwrap().to_owned();

    // DELETE: the account is gone (and its token with it), its email free again.
    let (s, _, _) = node
        .call(Method::DELETE, "/users/me", Some(&token), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        node.get("/users/me", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        node.login(&ann, "a new password").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_transfer_moves_money_once_and_notifies_the_recipient_once() {
    let node = Node::start().await;
    let (ann, ann_email) = {
        let e = email("ann");
        (node.register(&e).await.0, e)
    };
    let bob_email = email("bob");
    let (bob, bob_id) = node.register(&bob_email).await;
    assert_eq!(node.balance(&ann).await, 0);

    node.deposit(&ann, 10_000).await;
    assert_eq!(node.balance(&ann).await, 10_000);

    let (s, t) = node.transfer(&ann, &bob_email, 2_500).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["amount_cents"], 2_500);
    assert_eq!(t["to_user_id"], bob_id.as_str());
    assert_eq!(t["currency"], "USD");

    // By user id too.
    let (s, t2) = node
        .post(
            "/transfers",
            Some(&ann),
            json!({"to_user_id": bob_id, "amount_cents": 500, "note": "lunch"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t2}");

    assert_eq!(node.balance(&ann).await, 7_000);
    assert_eq!(node.balance(&bob).await, 3_000);

    // Overdraft: 409 and nothing moves.
    let (s, v) = node.transfer(&bob, &ann_email, 3_001).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["type"], "/problems/conflict");
    assert_eq!(node.balance(&bob).await, 3_000);
    assert_eq!(node.balance(&ann).await, 7_000);

    // Unknown recipient, self, zero: refused, nothing moves.
    assert_eq!(
        node.transfer(&ann, &email("ghost"), 1).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.transfer(&ann, &ann_email, 1).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        node.transfer(&ann, &bob_email, 0).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(node.balance(&ann).await, 7_000);

    // Both see the transfers, newest first.
    let (s, list) = node.get("/transfers", &ann).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["id"], t2["id"]);
    let (_, list) = node.get("/transfers?page=1&page_size=1", &bob).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Exactly one notification per transfer, for the recipient.
    crate::support::eventually(
        std::time::Duration::from_secs(10),
        "two notifications",
        || async {
            node.notifications(&bob, "wallet.transfer.completed")
                .await
                .len()
                >= 2
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got = node.notifications(&bob, "wallet.transfer.completed").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got
        .iter()
        .any(|n| n["body"].as_str().unwrap().contains("lunch")));
    assert!(node
        .notifications(&ann, "wallet.transfer.completed")
        .await
        .is_empty());
    assert_eq!(node.notifications(&bob, "user.registered").await.len(), 1);

    // Mark one read; someone else's id is 404.
    let id = got[0]["id"].as_str().unwrap();
    let (s, n) = node
        .post(&format!("/notifications/{id}/read"), Some(&bob), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(n["read"], true);
    let (s, _) = node
        .post(&format!("/notifications/{id}/read"), Some(&ann), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn idempotency_keys_answer_the_first_result() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 1_000).await;
    let body = json!({"to_email": bob_email, "amount_cents": 100});
    let key = [("Idempotency-Key", "pay-bob-once")];
    let (s1, t1, _) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(body.clone()),
            &key,
        )
        .await;
    let (s2, t2, _) = node
        .call(Method::POST, "/transfers", Some(&ann), Some(body), &key)
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(t1["id"], t2["id"], "the repeat answers the first transfer");
    assert_eq!(node.balance(&ann).await, 900);
    assert_eq!(node.balance(&bob).await, 100);
    // Keys are per user: Bob's same key is his own.
    node.deposit(&bob, 1).await;
    let (s, t3, _) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&bob),
            Some(json!({"to_email": bob_email, "amount_cents": 1})),
            &key,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self-transfer, not Ann's answer: {t3}"
    );
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let node = Node::start().await;
    let get = |p: &str| node.client.get(format!("{}{p}", node.http)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    crate::support::eventually(std::time::Duration::from_secs(10), "ready", || async {
        get("/readyz").await.unwrap().status() == StatusCode::OK
    })
    .await;
    let (ann, _) = node.register(&email("ann")).await;
    node.deposit(&ann, 5).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for needle in [
        "mailroom_actor_processed_total{actor=\"wallets\"}",
        "mailroom_actor_mailbox_depth",
        "mailroom_actor_restarts_total",
        "mailroom_mom_envelopes{status=\"done\"}",
        "mailroom_mom_journal_group_size",
        "mailroom_http_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in /metrics");
    }
    let doc: serde_json::Value = get("/api/v1/openapi.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/transfers",
        "/api/v1/admin/faults",
        "/api/v1/operations/{id}",
        "/api/v1/auth/register",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    let ui = node
        .client
        .get(format!("{}/docs/", node.http))
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(
        ui.text().await.unwrap().contains("swagger"),
        "Swagger UI is served offline"
    );
}

#[tokio::test]
async fn a_replayed_registration_key_never_hands_out_someone_elses_account() {
    let node = Node::start().await;
    let victim = email("victim");
    let key = [("Idempotency-Key", "signup-1")];
    let body = json!({"email": victim, "password": PASSWORD, "name": "Victim"});
    let (s, first, _) = node
        .call(
            Method::POST,
            "/auth/register",
            None,
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    // The same caller retrying (same email and password) gets the same account.
    let (s, again, _) = node
        .call(Method::POST, "/auth/register", None, Some(body), &key)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again["user"]["id"], first["user"]["id"]);
    // Someone else replaying the key gets no token for the victim.
    let attacker = json!({"email": email("mallory"), "password": "another password", "name": "M"});
    let (s, v, _) = node
        .call(Method::POST, "/auth/register", None, Some(attacker), &key)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v.get("token").is_none());
    let wrong_pw = json!({"email": victim, "password": "not the password", "name": "Victim"});
    let (s, v, _) = node
        .call(Method::POST, "/auth/register", None, Some(wrong_pw), &key)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
}
