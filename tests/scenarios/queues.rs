//! The MOM for users (issue 4): queues and topics over REST and gRPC. Each
//! test is one bullet of the issue's "Done when": authorization, exactly
//! once and in order, leases → redelivery → dead letters → redrive, delay
//! and TTL, topic patterns, an actor kill and a `kill -9` mid-stream, gRPC
//! Subscribe, and clear errors.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use mailroom::grpc::pb::mom::{
    queues_client::QueuesClient, AckRequest, CreateQueueRequest, GetQueueRequest, PublishRequest,
    ReceiveRequest, SubscribeRequest,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tonic::{Code, Request};

use crate::support::{authed, channel, email, Node};

async fn create(node: &Node, token: &str, body: Value) -> Value {
    let (s, v) = node.post("/queues", Some(token), body).await;
    assert_eq!(s, StatusCode::CREATED, "create queue: {v}");
    v
}

async fn publish(node: &Node, token: &str, queue: &str, body: Value) -> (StatusCode, Value) {
    node.post(&format!("/queues/{queue}/messages"), Some(token), body)
        .await
}

/// Publishes `text`; returns the message id (201 or the test fails).
async fn put(node: &Node, token: &str, queue: &str, text: &str) -> String {
    let (s, v) = publish(node, token, queue, json!({ "body": text })).await;
    assert_eq!(s, StatusCode::CREATED, "publish: {v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn receive(node: &Node, token: &str, queue: &str, body: Value) -> (StatusCode, Value) {
    node.post(&format!("/queues/{queue}/receive"), Some(token), body)
        .await
}

/// Receives (the call must succeed); returns the messages.
async fn take(node: &Node, token: &str, queue: &str, body: Value) -> Vec<Value> {
    let (s, v) = receive(node, token, queue, body).await;
    assert_eq!(s, StatusCode::OK, "receive: {v}");
    v["messages"].as_array().unwrap().clone()
}

async fn ack(node: &Node, token: &str, queue: &str, m: &Value) -> (StatusCode, Value) {
    node.post(
        &format!("/queues/{queue}/messages/{}/ack", m["id"].as_str().unwrap()),
        Some(token),
        json!({ "receipt": m["receipt"] }),
    )
    .await
}

async fn delete(node: &Node, token: &str, path: &str) -> (StatusCode, Value) {
    let (s, v, _) = node
        .call(Method::DELETE, path, Some(token), None, &[])
        .await;
    (s, v)
}

#[tokio::test]
async fn the_owner_shares_a_queue_by_grant_and_others_get_403_until_then() {
    let node = Node::start().await;
    let (ann, ann_id) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    let q = create(&node, &ann, json!({"name": "shared"})).await;
    assert_eq!(q["owner_id"], ann_id.as_str());
    assert_eq!(
        (q["depth"].as_i64(), q["owned"].as_bool()),
        (Some(0), Some(true))
    );
    let (s, v) = node
        .post("/queues", Some(&bob), json!({"name": "shared"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // Bob: 403 on everything about an existing queue; 404 only for a name
    // that does not exist.
    assert_eq!(
        delete(&node, &bob, "/queues/shared").await.0,
        StatusCode::FORBIDDEN
    );
    let (s, v) = publish(&node, &bob, "shared", json!({"body": "hi"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "/problems/forbidden");
    assert_eq!(
        receive(&node, &bob, "shared", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        node.get("/queues/shared", &bob).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        node.get("/queues/shared/dead-letters", &bob).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = node
        .post(
            "/queues/shared/grants",
            Some(&bob),
            json!({"user_email": bob_email, "permissions": ["publish"]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only the owner grants");
    assert_eq!(
        node.get("/queues/nope", &bob).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(node.get("/queues", &bob).await.1["total"], 0);

    // Granted: publish and consume, still not delete.
    let (s, g) = node
        .post(
            "/queues/shared/grants",
            Some(&ann),
            json!({"user_email": bob_email.to_uppercase(), "permissions": ["publish", "consume"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    assert_eq!(g["permissions"], json!(["publish", "consume"]));
    let id = put(&node, &bob, "shared", "from bob").await;
    let got = take(&node, &bob, "shared", json!({"max": 5})).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0]["id"].as_str(), got[0]["body"].as_str()),
        (Some(id.as_str()), Some("from bob"))
    );
    assert_eq!(ack(&node, &bob, "shared", &got[0]).await.0, StatusCode::OK);
    let (s, v) = node.get("/queues/shared", &bob).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["owned"].as_bool(), v["permissions"].clone()),
        (Some(false), json!(["publish", "consume"]))
    );
    assert_eq!(node.get("/queues", &bob).await.1["total"], 1);
    assert_eq!(
        delete(&node, &bob, "/queues/shared").await.0,
        StatusCode::FORBIDDEN
    );

    // Publish only: consuming is 403 again.
    node.post(
        "/queues/shared/grants",
        Some(&ann),
        json!({"user_email": bob_email, "permissions": ["publish"]}),
    )
    .await;
    put(&node, &bob, "shared", "again").await;
    assert_eq!(
        receive(&node, &bob, "shared", json!({})).await.0,
        StatusCode::FORBIDDEN
    );

    // Per-queue metrics.
    let metrics = node
        .client
        .get(format!("{}/metrics", node.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mailroom_queue_depth{queue=\"shared\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailroom_queue_published_total{queue=\"shared\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailroom_queue_delivered_total{queue=\"shared\"} 1"),
        "{metrics}"
    );

    let (s, v) = delete(&node, &ann, "/queues/shared").await;
    assert_eq!((s, v["depth"].as_i64()), (StatusCode::OK, Some(1)), "{v}");
    assert_eq!(
        node.get("/queues/shared", &ann).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_thousand_messages_are_received_and_acked_exactly_once_in_order() {
    const LANES: usize = 8;
    const PER_LANE: usize = 125;
    let node = Arc::new(Node::start().await);
    let (ann, _) = node.register(&email("ann")).await;
    create(
        &node,
        &ann,
        json!({"name": "bulk", "visibility_timeout_s": 120}),
    )
    .await;

    // Eight producers, each publishing its own sequence one after another:
    // a message answered 201 before the next was sent must come out first.
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let (node, ann) = (node.clone(), ann.clone());
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(PER_LANE);
                for i in 0..PER_LANE {
                    ids.push(put(&node, &ann, "bulk", &format!("{lane}:{i}")).await);
                }
                ids
            })
        })
        .collect();
    let mut published: HashMap<String, (usize, usize)> = HashMap::new();
    for (lane, t) in lanes.into_iter().enumerate() {
        for (i, id) in t.await.unwrap().into_iter().enumerate() {
            published.insert(id, (lane, i));
        }
    }
    assert_eq!(published.len(), LANES * PER_LANE);
    let (_, q) = node.get("/queues/bulk", &ann).await;
    assert_eq!(q["depth"], 1000, "{q}");

    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < 1000 {
        let got = take(&node, &ann, "bulk", json!({"max": 100})).await;
        assert!(!got.is_empty(), "only {} of 1000 came out", seen.len());
        seen.extend(got);
    }
    let ids: HashSet<&str> = seen.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "each message once");
    let mut next = [0usize; LANES];
    for m in &seen {
        let (lane, i) = published[m["id"].as_str().unwrap()];
        assert_eq!(i, next[lane], "lane {lane} out of order at {m}");
        assert_eq!(m["body"], format!("{lane}:{i}"));
        assert_eq!(m["delivery_count"], 1);
        next[lane] += 1;
    }

    // Ack them: the first half one by one (16 at a time), the rest in
    // batch acks of 100. None comes back.
    let seen = Arc::new(seen);
    let ackers: Vec<_> = (0..16)
        .map(|w| {
            let (node, ann, seen) = (node.clone(), ann.clone(), seen.clone());
            tokio::spawn(async move {
                for m in seen[..500].iter().skip(w).step_by(16) {
                    let (s, v) = ack(&node, &ann, "bulk", m).await;
                    assert_eq!(s, StatusCode::OK, "ack: {v}");
                }
            })
        })
        .collect();
    for a in ackers {
        a.await.unwrap();
    }
    for chunk in seen[500..].chunks(100) {
        let acks: Vec<Value> = chunk
            .iter()
            .map(|m| json!({"id": m["id"], "receipt": m["receipt"]}))
            .collect();
        let (s, v) = node
            .post("/queues/bulk/ack", Some(&ann), json!({ "acks": acks }))
            .await;
        assert_eq!(s, StatusCode::OK, "batch ack: {v}");
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), chunk.len());
        assert!(results.iter().all(|r| r["status"] == "acked"), "{v}");
    }
    assert!(take(&node, &ann, "bulk", json!({"max": 100, "wait_s": 1}))
        .await
        .is_empty());
    let (_, q) = node.get("/queues/bulk", &ann).await;
    assert_eq!(
        (
            q["depth"].as_i64(),
            q["in_flight"].as_i64(),
            q["dead"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );
    // An acked message is gone: acking it again with its receipt is a
    // repeat (200, nothing changes); with another receipt, 404.
    let (s, v) = ack(&node, &ann, "bulk", &seen[0]).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("acked")),
        "{v}"
    );
    let mut other = seen[0].clone();
    other["receipt"] = json!("not-its-receipt");
    let (s, v) = ack(&node, &ann, "bulk", &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test]
async fn an_unacked_message_comes_back_then_dead_letters_then_redrive_returns_it() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    create(
        &node,
        &ann,
        json!({"name": "flaky", "visibility_timeout_s": 1, "max_deliveries": 2}),
    )
    .await;
    let id = put(&node, &ann, "flaky", "work").await;
    let first = take(&node, &ann, "flaky", json!({})).await;
    assert_eq!(
        (first[0]["id"].as_str(), first[0]["delivery_count"].as_i64()),
        (Some(id.as_str()), Some(1))
    );
    assert!(
        take(&node, &ann, "flaky", json!({})).await.is_empty(),
        "leased"
    );

    // Not acked: back after the visibility timeout, the long poll wakes for it.
    let started = Instant::now();
    let second = take(&node, &ann, "flaky", json!({"wait_s": 5})).await;
    assert_eq!(
        (
            second[0]["id"].as_str(),
            second[0]["delivery_count"].as_i64()
        ),
        (Some(id.as_str()), Some(2))
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woken by the lease's end"
    );
    let (s, v) = ack(&node, &ann, "flaky", &first[0]).await;
    assert_eq!(s, StatusCode::CONFLICT, "the first receipt is stale: {v}");

    // Past max_deliveries (2): dead-lettered by the next receive.
    assert!(take(&node, &ann, "flaky", json!({"wait_s": 2}))
        .await
        .is_empty());
    let (s, dead) = node.get("/queues/flaky/dead-letters", &ann).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(dead["total"], 1, "{dead}");
    assert_eq!(dead["items"][0]["id"], id.as_str());
    assert_eq!(dead["items"][0]["reason"], "max_deliveries");
    assert_eq!(dead["items"][0]["body"], "work");
    assert_eq!(node.get("/queues/flaky", &ann).await.1["dead"], 1);

    // Redrive: back in the queue as new.
    let (s, v) = node
        .post(
            &format!("/queues/flaky/dead-letters/{id}/redrive"),
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("requeued")),
        "{v}"
    );
    let again = take(&node, &ann, "flaky", json!({"wait_s": 2})).await;
    assert_eq!(
        (again[0]["id"].as_str(), again[0]["delivery_count"].as_i64()),
        (Some(id.as_str()), Some(1))
    );
    assert_eq!(ack(&node, &ann, "flaky", &again[0]).await.0, StatusCode::OK);
    assert_eq!(
        node.get("/queues/flaky/dead-letters", &ann).await.1["total"],
        0
    );

    // Nack: requeue (comes straight back) or reject (dead letter).
    put(&node, &ann, "flaky", "nacked").await;
    let m = take(&node, &ann, "flaky", json!({})).await.remove(0);
    async fn nack(node: &Node, ann: &str, requeue: bool, m: &Value) -> Value {
        let path = format!("/queues/flaky/messages/{}/nack", m["id"].as_str().unwrap());
        let (s, v) = node
            .post(
                &path,
                Some(ann),
                json!({"receipt": m["receipt"], "requeue": requeue}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "nack: {v}");
        v
    }
    assert_eq!(nack(&node, &ann, true, &m).await["status"], "requeued");
    let m = take(&node, &ann, "flaky", json!({"wait_s": 1}))
        .await
        .remove(0);
    assert_eq!(m["delivery_count"], 2);
    assert_eq!(
        nack(&node, &ann, false, &m).await["status"],
        "dead_lettered"
    );
    let (_, dead) = node.get("/queues/flaky/dead-letters", &ann).await;
    assert_eq!(dead["items"][0]["reason"], "rejected");
}

#[tokio::test]
async fn delay_holds_a_message_back_and_ttl_expires_one() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    create(&node, &ann, json!({"name": "later"})).await;
    let sent = Instant::now();
    let (s, v) = publish(
        &node,
        &ann,
        "later",
        json!({"body": "in 2 s", "delay_s": 2}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(
        take(&node, &ann, "later", json!({})).await.is_empty(),
        "held back"
    );
    assert_eq!(
        node.get("/queues/later", &ann).await.1["depth"],
        1,
        "but counted"
    );
    let got = take(&node, &ann, "later", json!({"wait_s": 10})).await;
    assert_eq!(got[0]["body"], "in 2 s");
    // The delay runs from when the publish was journaled (after `sent`).
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(1_950) && waited < Duration::from_secs(6),
        "delivered when the delay ended ({waited:?})"
    );

    create(&node, &ann, json!({"name": "short", "message_ttl_s": 1})).await;
    let id = put(&node, &ann, "short", "stale soon").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        take(&node, &ann, "short", json!({"max": 10}))
            .await
            .is_empty(),
        "expired"
    );
    let (_, dead) = node.get("/queues/short/dead-letters", &ann).await;
    assert_eq!(dead["items"][0]["id"], id.as_str(), "{dead}");
    assert_eq!(dead["items"][0]["reason"], "expired");
}

#[tokio::test]
async fn a_topic_routes_by_pattern_into_each_bound_queue() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (s, v) = node
        .post("/topics", Some(&ann), json!({"name": "orders"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    create(&node, &ann, json!({"name": "star"})).await;
    create(&node, &ann, json!({"name": "hash"})).await;
    for (queue, pattern) in [("star", "order.*"), ("hash", "order.#")] {
        let (s, v) = node
            .post(
                "/topics/orders/subscriptions",
                Some(&ann),
                json!({"queue": queue, "pattern": pattern}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let send = |key: &'static str| {
        node.post(
            "/topics/orders/messages",
            Some(&ann),
            json!({"routing_key": key, "body": key}),
        )
    };
    let (s, v) = send("order.created").await;
    assert_eq!(
        (s, v["routed"].as_i64()),
        (StatusCode::CREATED, Some(2)),
        "{v}"
    );
    let (s, v) = send("order.item.added").await;
    assert_eq!(
        (s, v["routed"].as_i64()),
        (StatusCode::CREATED, Some(1)),
        "{v}"
    );
    assert_eq!(send("invoice.sent").await.1["routed"], 0);

    let star = take(&node, &ann, "star", json!({"max": 10})).await;
    let hash = take(&node, &ann, "hash", json!({"max": 10})).await;
    let bodies = |ms: &[Value]| {
        ms.iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(bodies(&star), ["order.created"]);
    assert_eq!(bodies(&hash), ["order.created", "order.item.added"]);
    assert_eq!(hash[1]["routing_key"], "order.item.added");
    assert_eq!(hash[1]["topic"], "orders");

    // Only the owner deletes; a stranger cannot publish or bind.
    let (bob, _) = node.register(&email("bob")).await;
    assert_eq!(
        delete(&node, &bob, "/topics/orders").await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = node
        .post(
            "/topics/orders/messages",
            Some(&bob),
            json!({"routing_key": "order.x", "body": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, t) = node.get("/topics/orders", &ann).await;
    assert_eq!(
        (s, t["subscriptions"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(2))
    );
    assert_eq!(
        delete(&node, &ann, "/topics/orders").await.0,
        StatusCode::OK
    );
    assert_eq!(
        node.get("/topics/orders", &ann).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn no_published_message_is_lost_across_a_mom_kill_and_kill_9_and_leases_hold() {
    let mut node = Node::start().await;
    let admin = node.admin_token().await;
    let ann_email = email("ann");
    let (ann, _) = node.register(&ann_email).await;
    create(
        &node,
        &ann,
        json!({"name": "stream", "visibility_timeout_s": 60}),
    )
    .await;
    create(
        &node,
        &ann,
        json!({"name": "held", "visibility_timeout_s": 60}),
    )
    .await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(put(&node, &ann, "held", &format!("h{i}")).await);
    }
    let leased = take(&node, &ann, "held", json!({"max": 2})).await;
    assert_eq!(leased.len(), 2);

    // Publishers run until the node dies; every 201 is recorded.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let url = node.url("/queues/stream/messages");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let publishers: Vec<_> = (0..8)
        .map(|p| {
            let (client, url, ann, acked, stop) = (
                client.clone(),
                url.clone(),
                ann.clone(),
                acked.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let res = client
                        .post(&url)
                        .bearer_auth(&ann)
                        .json(&json!({"body": format!("{p}:{i}")}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let v: Value = r.json().await.unwrap();
                            acked
                                .lock()
                                .unwrap()
                                .push(v["id"].as_str().unwrap().to_owned());
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    let count = |n: usize| {
        let acked = acked.clone();
        async move {
            let until = Instant::now() + Duration::from_secs(30);
            while acked.lock().unwrap().len() < n {
                assert!(Instant::now() < until, "publishing stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    count(50).await;
    let (s, v) = node
        .fault(
            &admin,
            json!({"actor": "mom", "action": "kill", "down_ms": 300}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at_kill = acked.lock().unwrap().len();
    count(at_kill + 150).await;
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    for p in publishers {
        p.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    let tmp = node.keep_data();

    let node = Node::start_on(tmp.path()).await;
    let (s, v) = node.login(&ann_email, crate::support::PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ann = v["token"].as_str().unwrap().to_owned();

    // Every acknowledged publish is there, once.
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let got = take(&node, &ann, "stream", json!({"max": 100, "wait_s": 1})).await;
        if got.is_empty() {
            break;
        }
        for m in got {
            assert_eq!(m["delivery_count"], 1, "{m}");
            assert!(
                seen.insert(m["id"].as_str().unwrap().to_owned()),
                "twice: {m}"
            );
        }
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost: {lost:?}",
        lost.len(),
        acked.len()
    );

    // The two leases taken before the crash still hold: only h2 is receivable,
    // and the old receipts still ack.
    let got = take(&node, &ann, "held", json!({"max": 10})).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], held[2].as_str());
    for m in &leased {
        let (s, v) = ack(&node, &ann, "held", m).await;
        assert_eq!(s, StatusCode::OK, "old receipt after restart: {v}");
    }
}

/// The status code of a call that must fail.
fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    r.unwrap_err().code()
}

#[tokio::test]
async fn grpc_subscribe_streams_what_rest_publishes_and_errors_are_clear_statuses() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (bob, _) = node.register(&email("bob")).await;
    let mut q = QueuesClient::new(channel(&node).await);
    let created = q
        .create_queue(authed(
            CreateQueueRequest {
                name: "live".into(),
                visibility_timeout_s: Some(30),
                ..Default::default()
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (created.name.as_str(), created.visibility_timeout_s),
        ("live", 30)
    );

    let mut stream = q
        .subscribe(authed(
            SubscribeRequest {
                queue: "live".into(),
                max: 2,
                visibility_timeout_s: None,
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(put(&node, &ann, "live", &format!("m{i}")).await);
    }
    for (i, id) in ids.iter().enumerate() {
        let m = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("streamed in time")
            .expect("no error")
            .expect("stream open");
        assert_eq!(
            (&m.id, m.body.as_str(), m.queue.as_str()),
            (id, format!("m{i}").as_str(), "live")
        );
        let s = q
            .ack(authed(
                AckRequest {
                    queue: "live".into(),
                    id: m.id.clone(),
                    receipt: m.receipt.clone(),
                },
                &ann,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.status, "acked");
    }
    drop(stream);
    let v = q
        .get_queue(authed(
            GetQueueRequest {
                name: "live".into(),
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((v.depth, v.in_flight), (0, 0));

    // Clear statuses.
    let publish = |queue: &str, body: String| PublishRequest {
        queue: queue.into(),
        body,
        ..Default::default()
    };
    assert_eq!(
        code(
            q.publish(authed(publish("bad name", "x".into()), &ann))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            q.publish(authed(publish("live", "x".repeat(300 * 1024)), &ann))
                .await
        ),
        Code::ResourceExhausted
    );
    assert_eq!(
        code(q.publish(authed(publish("live", "x".into()), &bob)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(q.publish(authed(publish("nope", "x".into()), &ann)).await),
        Code::NotFound
    );
    assert_eq!(
        code(q.publish(Request::new(publish("live", "x".into()))).await),
        Code::Unauthenticated
    );
    let ack_req = |id: &str, receipt: &str| AckRequest {
        queue: "live".into(),
        id: id.into(),
        receipt: receipt.into(),
    };
    assert_eq!(
        code(
            q.ack(authed(ack_req(&ids[0], "0123456789abcdef"), &ann))
                .await
        ),
        Code::NotFound,
        "acked already"
    );
    let id = put(&node, &ann, "live", "held").await;
    let got = q
        .receive(authed(
            ReceiveRequest {
                queue: "live".into(),
                max: 1,
                wait_s: 1,
                visibility_timeout_s: None,
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.messages[0].id, id);
    assert_eq!(
        code(q.ack(authed(ack_req(&id, "not-the-receipt"), &ann)).await),
        Code::FailedPrecondition,
        "stale receipt"
    );
    assert_eq!(
        code(q.ack(authed(ack_req("not-a-uuid", "r"), &ann)).await),
        Code::InvalidArgument
    );
    let sub = q
        .subscribe(authed(
            SubscribeRequest {
                queue: "live".into(),
                ..Default::default()
            },
            &bob,
        ))
        .await;
    assert_eq!(code(sub), Code::PermissionDenied);
}

#[tokio::test]
async fn bad_names_oversized_bodies_and_unknown_receipts_get_clear_4xx() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    for name in ["", "has space", "slash/x", &"x".repeat(65), "ünicode"] {
        let (s, v) = node
            .post("/queues", Some(&ann), json!({ "name": name }))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {v}");
    }
    let (s, _) = node
        .post("/topics", Some(&ann), json!({"name": "a*b"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for body in [
        json!({"name": "q", "visibility_timeout_s": 0}),
        json!({"name": "q", "max_deliveries": 0}),
        json!({"name": "q", "message_ttl_s": 0}),
        json!({"name": "q", "unknown": 1}),
        json!(["q"]),
    ] {
        let (s, v) = node.post("/queues", Some(&ann), body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    create(&node, &ann, json!({"name": "q"})).await;
    let (s, v) = node.post("/queues", None, json!({"name": "q2"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // Bodies: 256 KiB is fine, more is 413.
    let (s, v) = publish(&node, &ann, "q", json!({"body": "x".repeat(256 * 1024)})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = publish(
        &node,
        &ann,
        "q",
        json!({"body": "x".repeat(256 * 1024 + 1)}),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (s, _) = publish(&node, &ann, "q", json!({"body": "x".repeat(2 << 20)})).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    for body in [
        json!({"body": 5}),
        json!({"body": "x", "delay_s": -1}),
        json!({"body": "x", "delay_s": 86_401}),
        json!({"body": "x", "headers": {"": "v"}}),
        json!({"body": "x", "headers": {"k": 1}}),
    ] {
        let (s, v) = publish(&node, &ann, "q", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    for body in [
        json!({"max": 0}),
        json!({"max": 101}),
        json!({"wait_s": 21}),
    ] {
        let (s, v) = receive(&node, &ann, "q", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }

    // Receipts: unknown message 404, wrong receipt 409, bad id 400.
    let m = take(&node, &ann, "q", json!({})).await.remove(0);
    let (s, v) = node
        .post(
            &format!("/queues/q/messages/{}/ack", uuid::Uuid::new_v4()),
            Some(&ann),
            json!({"receipt": m["receipt"]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = node
        .post(
            &format!("/queues/q/messages/{}/ack", m["id"].as_str().unwrap()),
            Some(&ann),
            json!({"receipt": "00000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = node
        .post(
            "/queues/q/messages/not-a-uuid/ack",
            Some(&ann),
            json!({"receipt": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = node
        .post(
            &format!("/queues/q/messages/{}/ack", m["id"].as_str().unwrap()),
            Some(&ann),
            json!({"receipt": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing above changed the message: its real receipt still acks.
    assert_eq!(ack(&node, &ann, "q", &m).await.0, StatusCode::OK);
    assert_eq!(node.get("/queues/q", &ann).await.1["depth"], 0);
}
