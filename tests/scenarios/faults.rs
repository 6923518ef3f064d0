//! Killing and crashing actors through the fault endpoint while requests
//! flow: nothing acknowledged is lost, nothing applies twice.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{email, eventually, Node};

/// Waits until `actor` runs with nothing pending (e.g. the `user.registered`
/// events of the users just made), so what a test counts next is its own.
pub async fn settle(node: &Node, admin: &str, actor: &str) {
    eventually(
        Duration::from_secs(10),
        &format!("{actor} idle"),
        || async {
            let a = node.actor(admin, actor).await;
            a["state"] == "running" && a["pending"] == 0
        },
    )
    .await;
}

#[tokio::test]
async fn clearing_a_kill_ends_its_down_period_at_once() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "wallets", "action": "kill", "down_ms": 600000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v, _) = node
        .call(
            Method::POST,
            "/wallet/deposit",
            Some(&ann),
            Some(json!({"amount_cents": 500})),
            &[("prefer", "wait=1")],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "wallets is down: {v}");
    assert_ne!(node.actor(&admin, "wallets").await["state"], "running");

    let (s, v, _) = node
        .call(
            Method::DELETE,
            "/admin/faults/wallets",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Back well inside the 600 s it was killed for, and the queued deposit
    // applied once.
    eventually(Duration::from_secs(5), "wallets running again", || async {
        node.actor(&admin, "wallets").await["state"] == "running"
    })
    .await;
    eventually(Duration::from_secs(5), "the deposit applied", || async {
        node.balance(&ann).await == 500
    })
    .await;
    assert_eq!(node.actor(&admin, "wallets").await["restarts"], 1);
}

#[tokio::test]
async fn notifications_down_loses_none_of_20_transfers_and_clearing_brings_it_back() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 100_000).await;

    settle(&node, &admin, "notifications").await;

    // Down far longer than 20 transfers take however loaded the machine;
    // clearing the fault ends the down period.
    let (s, v) = node
        .fault(
            &admin,
            json!({"actor": "notifications", "action": "kill", "down_ms": 600000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for i in 0..20 {
        let (s, v) = node.transfer(&ann, &bob_email, 100 + i).await;
        assert_eq!(
            s,
            StatusCode::CREATED,
            "transfer {i} while notifications is down: {v}"
        );
    }
    let a = node.actor(&admin, "notifications").await;
    assert_ne!(a["state"], "running", "{a}");
    assert_eq!(a["pending"], 20, "the MOM holds them: {a}");
    let (s, _, _) = node
        .call(
            Method::DELETE,
            "/admin/faults/notifications",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    eventually(
        Duration::from_secs(15),
        "20 notifications after the restart",
        || async {
            node.notifications(&bob, "wallet.transfer.completed")
                .await
                .len()
                >= 20
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = node.notifications(&bob, "wallet.transfer.completed").await;
    assert_eq!(got.len(), 20, "none lost, none twice");
    let mut subjects: Vec<String> = got
        .iter()
        .map(|n| n["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 20, "each transfer exactly once");

    let a = node.actor(&admin, "notifications").await;
    assert_eq!(a["state"], "running", "{a}");
    assert_eq!(a["restarts"], 1, "{a}");
    assert_eq!(a["pending"], 0, "{a}");
}

#[tokio::test]
async fn wallets_down_answers_202_and_the_operation_completes_after_restart() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 1_000).await;

    node.fault(
        &admin,
        json!({"actor": "wallets", "action": "kill", "down_ms": 2500}),
    )
    .await;
    let started = std::time::Instant::now();
    let (s, v, h) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": 400})),
            &[("Prefer", "wait=1")],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert!(
        started.elapsed() < Duration::from_millis(2400),
        "answered within the wait budget"
    );
    let location = h["location"].to_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/operations/{id}"));
    assert_eq!(v["status"], "pending");

    // Reads are not journaled: a read that cannot wait answers 503 while the
    // actor is down, never a stale balance.
    let (s, _, h) = node
        .call(
            Method::GET,
            "/wallet",
            Some(&ann),
            None,
            &[("Prefer", "wait=0")],
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.contains_key("retry-after"));

    // Only the owner (or an admin) sees the operation.
    let (stranger, _) = node.register(&email("eve")).await;
    assert_eq!(
        node.get(&format!("/operations/{id}"), &stranger).await.0,
        StatusCode::NOT_FOUND
    );

    let op = node
        .await_operation(&ann, &id, Duration::from_secs(15))
        .await;
    assert_eq!(op["status"], "done", "{op}");
    assert_eq!(op["result"]["amount_cents"], 400);
    assert_eq!(node.balance(&ann).await, 600);
    assert_eq!(node.balance(&bob).await, 400);
    let (s, _) = node.get(&format!("/operations/{id}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn crash_next_on_wallets_applies_each_transfer_exactly_once() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let ann_email = email("ann");
    let (ann, _) = node.register(&ann_email).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 1_000).await;

    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "wallets", "action": "crash_next", "count": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut ids = Vec::new();
    for i in 0..4 {
        let key = format!("crash-{i}");
        let (s, v, _) = node
            .call(
                Method::POST,
                "/transfers",
                Some(&ann),
                Some(json!({"to_email": bob_email, "amount_cents": 10 * (i + 1)})),
                &[("Idempotency-Key", &key)],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "transfer {i}: {v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(node.balance(&ann).await, 1_000 - 100);
    assert_eq!(node.balance(&bob).await, 100);
    let a = node.actor(&admin, "wallets").await;
    assert_eq!(a["restarts"], 2, "two panics, two supervised restarts: {a}");
    assert!(
        a["last_failure"]
            .as_str()
            .unwrap()
            .contains("injected crash"),
        "{a}"
    );

    // Re-sending one with the same key changes nothing.
    let (s, v, _) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": 10})),
            &[("Idempotency-Key", "crash-0")],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["id"], ids[0].as_str());
    assert_eq!(node.balance(&ann).await, 900);

    // Overdraft moves nothing.
    assert_eq!(
        node.transfer(&bob, &ann_email, 101).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(node.balance(&ann).await + node.balance(&bob).await, 1_000);
    let (_, list) = node.get("/transfers", &ann).await;
    assert_eq!(list["total"], 4);
}

#[tokio::test]
async fn a_poison_transfer_is_dead_lettered_while_deposits_go_on_and_retry_succeeds() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 1_000).await;

    node.fault(
        &admin,
        json!({"actor": "wallets", "action": "crash_next", "count": 1000, "message": "transfer"}),
    )
    .await;
    let (s, v, _) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": 250})),
            &[("Prefer", "wait=10")],
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "dead-lettered: {v}");
    assert!(
        v["detail"].as_str().unwrap().contains("dead-lettered"),
        "{v}"
    );

    // The actor keeps serving other messages.
    node.deposit(&ann, 1).await;
    assert_eq!(node.balance(&ann).await, 1_001);
    assert_eq!(node.balance(&bob).await, 0);

    let (s, dead) = node.get("/admin/dead-letters", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(dead["total"], 1, "{dead}");
    let letter = &dead["items"][0];
    assert_eq!(letter["destination"], "wallets");
    assert_eq!(letter["message_type"], "transfer");
    assert_eq!(letter["attempts"], 5);
    let id = letter["id"].as_str().unwrap().to_owned();
    let (s, op) = node.get(&format!("/operations/{id}"), &ann).await;
    assert_eq!((s, op["status"].as_str()), (StatusCode::OK, Some("dead")));

    // Not for customers.
    assert_eq!(
        node.get("/admin/dead-letters", &ann).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        node.post(
            &format!("/admin/dead-letters/{id}/retry"),
            Some(&ann),
            json!({})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    let (s, _, _) = node
        .call(
            Method::DELETE,
            "/admin/faults/wallets",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = node
        .post(
            &format!("/admin/dead-letters/{id}/retry"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let op = node
        .await_operation(&ann, &id, Duration::from_secs(10))
        .await;
    assert_eq!(op["status"], "done", "{op}");
    assert_eq!(node.balance(&ann).await, 751);
    assert_eq!(node.balance(&bob).await, 250);
    let (_, dead) = node.get("/admin/dead-letters", &admin).await;
    assert_eq!(dead["total"], 0);
    // A second retry of a live envelope is a 404.
    assert_eq!(
        node.post(
            &format!("/admin/dead-letters/{id}/retry"),
            Some(&admin),
            json!({})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn killing_the_mom_itself_loses_nothing() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 10_000).await;

    let mut acknowledged = 0;
    for round in 0..3 {
        let (s, v) = node
            .fault(
                &admin,
                json!({"actor": "mom", "action": "kill", "down_ms": 300}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for _ in 0..5 {
            let (s, v) = node.transfer(&ann, &bob_email, 10).await;
            match s {
                StatusCode::CREATED => acknowledged += 1,
                StatusCode::ACCEPTED => {
                    let op = node
                        .await_operation(&ann, v["id"].as_str().unwrap(), Duration::from_secs(10))
                        .await;
                    assert_eq!(op["status"], "done", "round {round}: {op}");
                    acknowledged += 1;
                }
                other => panic!("round {round}: unexpected {other}: {v}"),
            }
        }
    }
    assert_eq!(acknowledged, 15);
    assert_eq!(node.balance(&bob).await, 150);
    assert_eq!(node.balance(&ann).await, 10_000 - 150);
    let a = node.actor(&admin, "mom").await;
    assert_eq!(a["restarts"], 3, "{a}");
    eventually(Duration::from_secs(10), "15 notifications", || async {
        node.notifications(&bob, "wallet.transfer.completed")
            .await
            .len()
            == 15
    })
    .await;
}

#[tokio::test]
async fn delay_and_fail_rate_faults_are_survivable() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 10_000).await;

    node.fault(
        &admin,
        json!({"actor": "notifications", "action": "fail_rate", "ratio": 0.3}),
    )
    .await;
    node.fault(
        &admin,
        json!({"actor": "wallets", "action": "delay", "ms": 20}),
    )
    .await;
    let a = node.actor(&admin, "wallets").await;
    assert_eq!(a["faults"][0], "delay=20ms", "{a}");
    let mut handles = Vec::new();
    for _ in 0..10 {
        let (s, v) = node.transfer(&ann, &bob_email, 7).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        handles.push(v["id"].clone());
    }
    node.call(
        Method::DELETE,
        "/admin/faults/wallets",
        Some(&admin),
        None,
        &[],
    )
    .await;
    assert_eq!(node.balance(&bob).await, 70);
    // A 30% panic rate with 5 deliveries each: every event is delivered or
    // (0.3^5 per event) dead-lettered — never twice.
    let settled = || async {
        let (_, dead) = node.get("/admin/dead-letters", &admin).await;
        let n = node
            .notifications(&bob, "wallet.transfer.completed")
            .await
            .len() as u64;
        n + dead["total"].as_u64().unwrap()
    };
    eventually(Duration::from_secs(30), "10 events settled", || async {
        settled().await >= 10
    })
    .await;
    node.call(
        Method::DELETE,
        "/admin/faults/notifications",
        Some(&admin),
        None,
        &[],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        settled().await,
        10,
        "each event delivered or dead, never twice"
    );
    let a = node.actor(&admin, "notifications").await;
    assert!(
        a["restarts"].as_u64().unwrap() == a["failures"].as_u64().unwrap(),
        "every panic was a supervised restart: {a}"
    );
}

#[tokio::test]
async fn fault_injection_is_admin_only_and_validated() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let admin = node.admin_token().await;
    let body = json!({"actor": "wallets", "action": "kill"});
    assert_eq!(
        node.post("/admin/faults", None, body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = node.post("/admin/faults", Some(&ann), body).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        node.get("/admin/actors", &ann).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = node
        .fault(&admin, json!({"actor": "nope", "action": "kill"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = node
        .fault(&admin, json!({"actor": "wallets", "action": "explode"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "wallets", "action": "fail_rate", "ratio": 2.0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let a = node.actor(&admin, "wallets").await;
    assert_eq!(a["state"], "running");
    assert_eq!(a["restarts"], 0, "refused faults change nothing: {a}");
}

#[tokio::test]
async fn killing_a_busy_actor_drops_its_batch_and_restarts_it_once() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 10_000).await;
    // Slow wallets down so a batch is mid-flight when the kill lands.
    node.fault(
        &admin,
        json!({"actor": "wallets", "action": "delay", "ms": 150}),
    )
    .await;
    let sends: Vec<_> = (0..6)
        .map(|_| {
            let (c, url, ann, to) = (
                node.client.clone(),
                node.url("/transfers"),
                ann.clone(),
                bob_email.clone(),
            );
            tokio::spawn(async move {
                c.post(url)
                    .bearer_auth(ann)
                    .header("Prefer", "wait=20")
                    .json(&json!({"to_email": to, "amount_cents": 11}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "wallets", "action": "kill", "down_ms": 200}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for t in sends {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    node.call(
        Method::DELETE,
        "/admin/faults/wallets",
        Some(&admin),
        None,
        &[],
    )
    .await;
    assert_eq!(
        node.balance(&bob).await,
        66,
        "the dropped batch was replayed, once"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = node.actor(&admin, "wallets").await;
    assert_eq!(a["restarts"], 1, "one kill, one restart: {a}");
    assert_eq!(a["state"], "running");
}

#[tokio::test]
async fn a_mom_crash_after_persisting_is_invisible_to_the_caller() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "mom", "action": "crash_next", "count": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for i in 1..=3 {
        let (s, v, _) = node
            .call(
                Method::POST,
                "/wallet/deposit",
                Some(&ann),
                Some(json!({"amount_cents": 100})),
                &[("Prefer", "wait=10")],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "deposit {i} through a crashing MOM: {v}");
    }
    assert_eq!(node.balance(&ann).await, 300, "each deposit exactly once");
    let a = node.actor(&admin, "mom").await;
    assert_eq!(a["restarts"], 2, "{a}");
    assert_eq!(a["failures"], 2, "{a}");
}
