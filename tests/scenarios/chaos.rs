//! What `mailroom load --chaos` once found: a post office restarted at the
//! wrong moment left work on disk that nobody routed, and the checker then
//! waited without a bound. Each test pins one such moment down.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use mailroom::grpc::pb::mom::{queues_client::QueuesClient, AckRequest};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{authed, channel, email, eventually, Node, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Holds `mom.db`'s write lock, as a slow disk would: the journal's writer
/// waits (its busy timeout is 10 s) while WAL readers go on.
fn hold_journal_writes(node: &Node) -> SqliteConnection {
    let path = node.data.join("mom.db");
    let mut c = SqliteConnection::establish(path.to_str().unwrap()).expect("open mom.db");
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut c)
        .unwrap();
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut c)
        .unwrap();
    c
}

/// The stall of issue 8: the post office died with a completion on its
/// way to disk. The completion committed after the new incarnation had
/// read the journal, so the event it derived sat `pending` on disk, in no
/// queue, forever (and the replay of the completed transfer met the
/// inbox, whose completion found nothing pending and routed nothing).
/// The lock makes the moment certain; the sleeps only give microsecond
/// steps time to happen.
#[tokio::test]
async fn a_mom_restart_while_a_completion_is_on_its_way_to_disk_still_routes_what_it_wrote() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let bob_email = email("bob");
    let (bob, _) = node.register(&bob_email).await;
    node.deposit(&ann, 1_000).await;
    // Slow wallets, so the lock is taken between the transfer's append and
    // its completion.
    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "wallets", "action": "delay", "ms": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v, _) = node
        .call(
            Method::POST,
            "/transfers",
            Some(&ann),
            Some(json!({"to_email": bob_email, "amount_cents": 100})),
            &[("Prefer", "wait=0")],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let op = v["id"].as_str().unwrap().to_owned();
    let mut lock = hold_journal_writes(&node);

    // Wallets applied it (its own store says so); its completion now waits
    // for the lock.
    eventually(
        Duration::from_secs(10),
        "wallets applies the transfer",
        || {
            let (node, bob) = (&node, &bob);
            async move {
                // Reads wait behind the slow batch: give them the time.
                let (s, v, _) = node
                    .call(
                        Method::GET,
                        "/wallet",
                        Some(bob),
                        None,
                        &[("Prefer", "wait=10")],
                    )
                    .await;
                s == StatusCode::OK && v["balance_cents"] == 100
            }
        },
    )
    .await;
    let (s, v) = node.get(&format!("/operations/{op}"), &ann).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["status"], "pending",
        "premise: the completion is held: {v}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The post office restarts now, and reads the journal.
    let (s, _) = node
        .fault(
            &admin,
            json!({"actor": "mom", "action": "kill", "down_ms": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    diesel::sql_query("ROLLBACK").execute(&mut lock).unwrap();
    drop(lock);
    node.call(
        Method::DELETE,
        "/admin/faults/wallets",
        Some(&admin),
        None,
        &[],
    )
    .await;

    let done = node
        .await_operation(&ann, &op, Duration::from_secs(15))
        .await;
    assert_eq!(done["status"], "done", "{done}");
    eventually(
        Duration::from_secs(15),
        "bob is told about the transfer (the event the completion derived is routed)",
        || {
            let (node, bob) = (&node, &bob);
            async move {
                node.notifications(bob, "wallet.transfer.completed")
                    .await
                    .len()
                    == 1
            }
        },
    )
    .await;
    assert_eq!(node.balance(&bob).await, 100, "applied once");
    eventually(
        Duration::from_secs(10),
        "every actor running with nothing pending",
        || {
            let (node, admin) = (&node, &admin);
            async move {
                let (_, v) = node.get("/admin/actors", admin).await;
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|a| a["state"] == "running" && a["pending"] == 0)
            }
        },
    )
    .await;
}

/// Issue 8's false alarm: a worker's ack, retried after a 503 without an
/// idempotency key, became a second `queue.ack`, found its message gone
/// (404), and the worker counted the message as never acked. A repeat with
/// the receipt that acked a message now answers 200, on both edges, and
/// changes nothing; a receipt that did not ack it keeps its 404.
#[tokio::test]
async fn a_second_ack_with_the_same_receipt_answers_200_on_both_edges_and_changes_nothing() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (s, v) = node
        .post("/queues", Some(&ann), json!({"name": "twice"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for text in ["a", "b", "c"] {
        let (s, v) = node
            .post("/queues/twice/messages", Some(&ann), json!({"body": text}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, v) = node
        .post("/queues/twice/receive", Some(&ann), json!({"max": 2}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got = v["messages"].as_array().unwrap().clone();
    assert_eq!(got.len(), 2, "{v}");
    let rest_ack = |m: &Value| {
        let path = format!("/queues/twice/messages/{}/ack", m["id"].as_str().unwrap());
        let body = json!({"receipt": m["receipt"]});
        let (node, ann) = (&node, &ann);
        async move { node.post(&path, Some(ann), body).await }
    };
    for attempt in 1..=2 {
        let (s, v) = rest_ack(&got[0]).await;
        assert_eq!(s, StatusCode::OK, "REST ack {attempt}: {v}");
        assert_eq!((&v["id"], &v["status"]), (&got[0]["id"], &json!("acked")));
    }
    let mut grpc = QueuesClient::new(channel(&node).await);
    for attempt in 1..=2 {
        let r = grpc
            .ack(authed(
                AckRequest {
                    queue: "twice".into(),
                    id: got[1]["id"].as_str().unwrap().into(),
                    receipt: got[1]["receipt"].as_str().unwrap().into(),
                },
                &ann,
            ))
            .await
            .unwrap_or_else(|e| panic!("gRPC ack {attempt}: {e}"))
            .into_inner();
        assert_eq!(r.status, "acked");
    }
    let (s, v) = node
        .post(
            "/queues/twice/ack",
            Some(&ann),
            json!({"acks": [{"id": got[0]["id"], "receipt": got[0]["receipt"]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["status"], "acked", "{v}");

    // Nothing changed: one message left, the third, delivered once.
    let (_, q) = node.get("/queues/twice", &ann).await;
    assert_eq!(
        (
            q["depth"].as_i64(),
            q["in_flight"].as_i64(),
            q["dead"].as_i64()
        ),
        (Some(1), Some(0), Some(0)),
        "{q}"
    );
    let (_, v) = node
        .post("/queues/twice/receive", Some(&ann), json!({"max": 10}))
        .await;
    let left = v["messages"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{v}");
    assert_eq!(
        (&left[0]["body"], &left[0]["delivery_count"]),
        (&json!("c"), &json!(1))
    );
    // A receipt that did not ack it: today's answer, 404.
    let mut other = got[0].clone();
    other["receipt"] = json!("not-the-receipt-that-acked-it");
    let (s, v) = rest_ack(&other).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}

/// Runs `mailroom load ARGS` against `node` as a user would, bounded: a run
/// still going after `within` is killed and the test fails. Returns the
/// exit code and what it printed.
fn load_bounded(node: &Node, args: &[&str], within: Duration) -> (Option<i32>, String) {
    let home = tempfile::tempdir().unwrap();
    let out_path = home.path().join("stdout");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("load")
        .args(args)
        .env("MAILROOM_URL", &node.http)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("MAILROOM_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("MAILROOM_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("MAILROOM_TOKEN")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("run mailroom load");
    let until = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mailroom load {args:?} still running after {within:?} (it hangs):\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status.code(),
        std::fs::read_to_string(&out_path).unwrap_or_default(),
    )
}

/// Issue 8's hang, seen from the checker: an actor held down far past the
/// stall bound with a command waiting for it. The checker must not wait
/// for it: it fails "the system settles", names the actor, its backlog and
/// the oldest envelope, and exits 3 — well within the test's own bound.
#[tokio::test]
async fn the_checker_fails_and_names_the_stuck_actor_instead_of_waiting_for_it() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_owned();
    let (code, out) = load_bounded(
        &node,
        &[
            "--orders",
            "10",
            "--concurrency",
            "2",
            "--state",
            &state_arg,
        ],
        Duration::from_secs(180),
    );
    assert_eq!(code, Some(0), "a short load passes first:\n{out}");

    // `orders` goes down for two minutes, and an order waits for it.
    let admin = node.admin_token().await;
    let (s, v) = node
        .fault(
            &admin,
            json!({"actor": "orders", "action": "kill", "down_ms": 120_000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let sku = saved["products"][1]["sku"].as_str().unwrap().to_owned();
    let (ann, _) = node.register(&email("ann")).await;
    let (s, v, _) = node
        .call(
            Method::POST,
            "/orders",
            Some(&ann),
            Some(json!({
                "items": [{"sku": sku, "quantity": 1}],
                "payment": {"method": "card", "card": {"number": "4242424242424242", "expiry": "12/39", "cvv": "123"}},
                "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
            })),
            &[("Prefer", "wait=0")],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let op = v["id"].as_str().unwrap().to_owned();

    let report = dir.path().join("report.json");
    let started = Instant::now();
    let (code, out) = load_bounded(
        &node,
        &[
            "--check",
            "--state",
            &state_arg,
            "--stall-timeout",
            "3s",
            "--settle-timeout",
            "60s",
            "--report",
            report.to_str().unwrap(),
        ],
        Duration::from_secs(90),
    );
    assert_eq!(code, Some(3), "the checker fails:\n{out}");
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "it stopped at the stall bound, not the overall cap: {:?}\n{out}",
        started.elapsed()
    );
    assert!(out.contains("FAIL  the system settles"), "{out}");
    assert!(out.contains("actor orders: down, 1 pending"), "{out}");
    assert!(
        out.contains(&format!("{op} place_order")),
        "the oldest envelope: {out}"
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["pass"], false);
    assert_eq!(r["checker"]["settled"], false);
    let settles = r["checker"]["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "the system settles")
        .unwrap()
        .clone();
    assert_eq!(settles["verdict"], "FAIL", "{settles}");
    assert!(
        settles["detail"]
            .as_str()
            .unwrap()
            .contains("nothing moved for 3s"),
        "{settles}"
    );
    // No wolf: what the checker could not read is not called lost.
    for i in r["checker"]["invariants"].as_array().unwrap() {
        if i["name"] != "the system settles" {
            assert_ne!(i["verdict"], "FAIL", "{i}");
        }
    }

    // The node itself shows the same: the actor list's journal view.
    let a = node.actor(&admin, "orders").await;
    assert_eq!(
        (&a["state"], &a["journal_pending"]),
        (&json!("down"), &json!(1)),
        "{a}"
    );
    assert_eq!(a["oldest_pending"][0]["id"], op.as_str(), "{a}");
    assert_eq!(a["oldest_pending"][0]["kind"], "place_order", "{a}");
}
