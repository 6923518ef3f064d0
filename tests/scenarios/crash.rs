//! `kill -9` of the whole node: what was acknowledged survives, a restart on
//! the same data dir replays what was pending, and re-sent keyed requests
//! apply exactly once.
use std::{collections::HashMap, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{email, eventually, Node};

const TRANSFERS: usize = 200;

#[tokio::test]
async fn kill_9_during_200_keyed_transfers_then_resend_applies_each_exactly_once() {
    let node = Node::start().await;
    let ann_email = email("ann");
    let bob_email = email("bob");
    let (ann, _) = node.register(&ann_email).await;
    node.register(&bob_email).await;
    const FUNDS: i64 = 1_000_000;
    node.deposit(&ann, FUNDS).await;
    let amount = |i: usize| 100 + i as i64;

    // Fire all 200 at once; SIGKILL the node once some have been answered.
    let node = Arc::new(tokio::sync::Mutex::new(node));
    let url = node.lock().await.url("/transfers");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..TRANSFERS {
        let (client, url, ann, bob_email, tx) = (
            client.clone(),
            url.clone(),
            ann.clone(),
            bob_email.clone(),
            answered_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(&url)
                .bearer_auth(&ann)
                .header("Idempotency-Key", format!("t-{i}"))
                .json(&json!({"to_email": bob_email, "amount_cents": amount(i)}))
                .send()
                .await;
            let out = match res {
                Ok(r) if r.status() == StatusCode::CREATED => {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    Some(v["id"].as_str().unwrap_or_default().to_owned())
                }
                _ => None,
            };
            let _ = tx.send(());
            (i, out)
        }));
    }
    for _ in 0..20 {
        answered_rx.recv().await;
    }
    let tmp = {
        let mut n = node.lock().await;
        n.kill9();
        n.keep_data()
    };
    let mut acked: HashMap<usize, String> = HashMap::new();
    for t in tasks {
        let (i, id) = t.await.unwrap();
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            acked.insert(i, id);
        }
    }
    assert!(acked.len() >= 20, "at least the awaited answers were 201");
    assert!(
        acked.len() < TRANSFERS,
        "the kill landed mid-stream ({} of {TRANSFERS} acked)",
        acked.len()
    );

    // Restart on the same data dir; the journal replays what was pending.
    let node = Node::start_on(tmp.path()).await;
    let ann = node.login(&ann_email, crate::support::PASSWORD).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = node.login(&bob_email, crate::support::PASSWORD).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Re-send every transfer with its key: the acknowledged ones answer
    // their first result, the others apply now or were applied by replay.
    for i in 0..TRANSFERS {
        let key = format!("t-{i}");
        let body = json!({"to_email": bob_email, "amount_cents": amount(i)});
        let (s, v, _) = node
            .call(
                Method::POST,
                "/transfers",
                Some(&ann),
                Some(body),
                &[("Idempotency-Key", &key), ("Prefer", "wait=10")],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "re-send {i}: {v}");
        if let Some(first) = acked.get(&i) {
            assert_eq!(
                v["id"].as_str().unwrap(),
                first,
                "re-send {i} answers the acknowledged transfer"
            );
        }
    }

    let total: i64 = (0..TRANSFERS).map(amount).sum();
    assert_eq!(
        node.balance(&bob).await,
        total,
        "every transfer exactly once"
    );
    assert_eq!(node.balance(&ann).await, FUNDS - total);
    let (_, list) = node.get("/transfers?page_size=100", &ann).await;
    assert_eq!(list["total"], TRANSFERS as u64);

    // Every transfer notified exactly once, across the crash.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n = node
            .notifications(&bob, "wallet.transfer.completed")
            .await
            .len();
        if n >= TRANSFERS {
            break;
        }
        if std::time::Instant::now() > until {
            let admin = node.admin_token().await;
            let (_, actors) = node.get("/admin/actors", &admin).await;
            let (_, dead) = node.get("/admin/dead-letters", &admin).await;
            panic!(
                "only {n} of {TRANSFERS} notifications; actors {actors}; dead {dead}; log:\n{}",
                node.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        node.notifications(&bob, "wallet.transfer.completed")
            .await
            .len(),
        TRANSFERS
    );
}

#[tokio::test]
async fn pending_envelopes_are_replayed_when_the_node_restarts() {
    let mut node = Node::start().await;
    let admin = node.admin_token().await;
    let ann_email = email("ann");
    let bob_email = email("bob");
    let (ann, _) = node.register(&ann_email).await;
    node.register(&bob_email).await;
    node.deposit(&ann, 1_000).await;

    // Only the transfers' events are to pile up, not the registrations'.
    crate::faults::settle(&node, &admin, "notifications").await;
    // Notifications stays down far longer than we wait: its events pile up.
    node.fault(
        &admin,
        json!({"actor": "notifications", "action": "kill", "down_ms": 600000}),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            node.transfer(&ann, &bob_email, 10).await.0,
            StatusCode::CREATED
        );
    }
    let a = node.actor(&admin, "notifications").await;
    assert_eq!(a["pending"], 5, "{a}");
    node.kill9();
    let tmp = node.keep_data();

    let node = Node::start_on(tmp.path()).await;
    let bob = node.login(&bob_email, crate::support::PASSWORD).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        Duration::from_secs(10),
        "5 replayed notifications",
        || async {
            node.notifications(&bob, "wallet.transfer.completed")
                .await
                .len()
                >= 5
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        node.notifications(&bob, "wallet.transfer.completed")
            .await
            .len(),
        5
    );
    assert_eq!(node.balance(&bob).await, 50);
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_keeps_everything() {
    let mut node = Node::start().await;
    let ann_email = email("ann");
    let (ann, _) = node.register(&ann_email).await;
    node.deposit(&ann, 777).await;
    let pid = node.pid();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        node.wait_exit(Duration::from_secs(15)),
        "the node exits on SIGTERM"
    );
    let tmp = node.keep_data();
    let node = Node::start_on(tmp.path()).await;
    let ann = node.login(&ann_email, crate::support::PASSWORD).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(node.balance(&ann).await, 777);
}
