//! The order saga end to end: cart → order → reserve → charge → ship →
//! confirmed, its failures and compensations, and its survival when any
//! actor — or the node — is killed mid-saga.
use std::{collections::HashMap, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{authed, email, eventually, Node};

const SETTLED: [&str; 5] = ["confirmed", "failed", "cancelled", "shipped", "delivered"];

fn card(number: &str) -> Value {
    json!({"method": "card", "card": {"number": number, "expiry": "12/39", "cvv": "123"}})
}

fn address() -> Value {
    json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"})
}

/// Creates a product with `stock` units (admin) and waits for inventory to
/// know it. Returns its sku.
async fn product(node: &Node, admin: &str, price: i64, stock: i64) -> String {
    let sku = format!("T-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (s, v) = node
        .post(
            "/products",
            Some(admin),
            json!({"sku": sku, "title": format!("Test book {sku}"), "author": "Tester", "category": "testing",
                   "price_cents": price, "initial_stock": stock}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "create product: {v}");
    eventually(
        Duration::from_secs(10),
        "inventory knows the product",
        || async { node.get(&format!("/inventory/{sku}"), admin).await.0 == StatusCode::OK },
    )
    .await;
    sku
}

async fn stock(node: &Node, token: &str, sku: &str) -> Value {
    let (s, v) = node.get(&format!("/inventory/{sku}"), token).await;
    assert_eq!(s, StatusCode::OK, "stock: {v}");
    v
}

async fn place(node: &Node, token: &str, body: Value) -> Value {
    let (s, v) = node.post("/orders", Some(token), body).await;
    assert_eq!(s, StatusCode::CREATED, "place order: {v}");
    assert_eq!(v["status"], "pending");
    v
}

/// Polls an order until the saga settles (riding out 503s while an actor restarts).
async fn settled(node: &Node, token: &str, id: &str, within: Duration) -> Value {
    let until = std::time::Instant::now() + within;
    loop {
        let (s, v) = node.get(&format!("/orders/{id}"), token).await;
        if s == StatusCode::OK && SETTLED.contains(&v["status"].as_str().unwrap_or_default()) {
            return v;
        }
        assert!(
            std::time::Instant::now() < until,
            "order {id} did not settle: {s} {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn order_body(sku: &str, quantity: i64, payment: Value) -> Value {
    json!({"items": [{"sku": sku, "quantity": quantity}], "payment": payment, "shipping_address": address()})
}

#[tokio::test]
async fn an_order_from_the_cart_is_confirmed_shipped_counted_and_notified() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 1_250, 10).await;
    let other = product(&node, &admin, 300, 10).await;

    // Cart: add, update, remove.
    eventually(
        Duration::from_secs(10),
        "cart knows the product",
        || async {
            node.post(
                "/cart/items",
                Some(&ann),
                json!({"sku": sku, "quantity": 1}),
            )
            .await
            .0 == StatusCode::OK
        },
    )
    .await;
    let (s, cart) = node
        .post(
            "/cart/items",
            Some(&ann),
            json!({"sku": other, "quantity": 4}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    let (s, cart, _) = node
        .call(
            Method::PATCH,
            &format!("/cart/items/{sku}"),
            Some(&ann),
            Some(json!({"quantity": 2})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    assert_eq!(cart["total_cents"], 2 * 1_250 + 4 * 300);
    let (s, cart, _) = node
        .call(
            Method::DELETE,
            &format!("/cart/items/{other}"),
            Some(&ann),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cart["items"].as_array().unwrap().len(), 1);

    // Order from the cart (no items given).
    let order = place(
        &node,
        &ann,
        json!({"payment": card("4242 4242 4242 4242"), "shipping_address": address()}),
    )
    .await;
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["total_cents"], 2_500);
    let order = settled(&node, &ann, &id, Duration::from_secs(20)).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert!(
        order["tracking_number"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{order}"
    );

    let (s, shipment) = node.get(&format!("/shipments/{id}"), &ann).await;
    assert_eq!(s, StatusCode::OK, "{shipment}");
    assert_eq!(shipment["tracking_number"], order["tracking_number"]);
    assert_eq!(shipment["status"], "created");

    let (s, payment) = node.get(&format!("/payments/{id}"), &ann).await;
    assert_eq!(s, StatusCode::OK, "{payment}");
    assert_eq!(payment["status"], "captured");
    assert_eq!(payment["amount_cents"], 2_500);
    assert_eq!(payment["card_last4"], "4242");

    // Stock moved from available to sold; the cart emptied.
    let st = stock(&node, &ann, &sku).await;
    assert_eq!(
        (
            st["on_hand"].as_i64(),
            st["reserved"].as_i64(),
            st["sold"].as_i64()
        ),
        (Some(8), Some(0), Some(2)),
        "{st}"
    );
    eventually(
        Duration::from_secs(10),
        "the cart is emptied by order.created",
        || async {
            node.get("/cart", &ann).await.1["items"]
                .as_array()
                .is_some_and(|i| i.is_empty())
        },
    )
    .await;

    // Analytics counts it, from events only.
    eventually(
        Duration::from_secs(10),
        "analytics counts the sale",
        || async {
            let (_, sales) = node.get("/analytics/sales", &admin).await;
            sales["by_product"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|x| x["sku"] == sku.as_str() && x["units"] == 2)
            })
        },
    )
    .await;

    // The buyer hears about it.
    eventually(Duration::from_secs(10), "order notifications", || async {
        !node.notifications(&ann, "order.confirmed").await.is_empty()
            && !node.notifications(&ann, "order.created").await.is_empty()
            && !node
                .notifications(&ann, "shipment.created")
                .await
                .is_empty()
    })
    .await;

    // Admin moves it on; the customer cannot.
    let status = |s: &'static str| json!({"status": s});
    let (s, _, _) = node
        .call(
            Method::PATCH,
            &format!("/orders/{id}/status"),
            Some(&ann),
            Some(status("shipped")),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v, _) = node
        .call(
            Method::PATCH,
            &format!("/orders/{id}/status"),
            Some(&admin),
            Some(status("shipped")),
            &[],
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("shipped")),
        "{v}"
    );
    let (s, v, _) = node
        .call(
            Method::PATCH,
            &format!("/orders/{id}/status"),
            Some(&admin),
            Some(status("delivered")),
            &[],
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("delivered")),
        "{v}"
    );
    eventually(Duration::from_secs(10), "shipment delivered", || async {
        node.get(&format!("/shipments/{id}"), &ann).await.1["status"] == "delivered"
    })
    .await;
    // Shipped orders cannot be cancelled.
    assert_eq!(
        node.post(&format!("/orders/{id}/cancel"), Some(&ann), json!({}))
            .await
            .0,
        StatusCode::CONFLICT
    );

    // Orders are private.
    let (eve, _) = node.register(&email("eve")).await;
    assert_eq!(
        node.get(&format!("/orders/{id}"), &eve).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.get(&format!("/payments/{id}"), &eve).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(node.get("/orders", &eve).await.1["total"], 0);
    assert_eq!(node.get("/orders", &ann).await.1["total"], 1);
    assert!(
        node.get("/orders", &admin).await.1["total"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn a_declined_card_fails_the_order_and_puts_the_stock_back() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 999, 5).await;
    let order = place(&node, &ann, order_body(&sku, 3, card("4000000000000002"))).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let order = settled(&node, &ann, &id, Duration::from_secs(20)).await;
    assert_eq!(order["status"], "failed", "{order}");
    assert!(
        order["failure_reason"]
            .as_str()
            .unwrap()
            .contains("declined"),
        "{order}"
    );
    eventually(Duration::from_secs(10), "stock released", || async {
        stock(&node, &ann, &sku).await["reserved"] == 0
    })
    .await;
    let st = stock(&node, &ann, &sku).await;
    assert_eq!(
        (
            st["on_hand"].as_i64(),
            st["available"].as_i64(),
            st["sold"].as_i64()
        ),
        (Some(5), Some(5), Some(0))
    );
    let (_, payment) = node.get(&format!("/payments/{id}"), &ann).await;
    assert_eq!(payment["status"], "declined", "no charge: {payment}");
    eventually(Duration::from_secs(10), "failure notification", || async {
        !node.notifications(&ann, "order.failed").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn wallet_payment_debits_exactly_the_total_and_insufficient_funds_fail_cleanly() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 700, 10).await;
    node.deposit(&ann, 2_000).await;

    let order = place(
        &node,
        &ann,
        order_body(&sku, 2, json!({"method": "wallet"})),
    )
    .await;
    let order = settled(
        &node,
        &ann,
        order["id"].as_str().unwrap(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(node.balance(&ann).await, 2_000 - 1_400);

    // 600 left; 2 × 700 does not fit.
    let order = place(
        &node,
        &ann,
        order_body(&sku, 2, json!({"method": "wallet"})),
    )
    .await;
    let order = settled(
        &node,
        &ann,
        order["id"].as_str().unwrap(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(order["status"], "failed", "{order}");
    assert_eq!(node.balance(&ann).await, 600, "nothing debited");
    eventually(Duration::from_secs(10), "stock released", || async {
        stock(&node, &ann, &sku).await["reserved"] == 0
    })
    .await;
    let st = stock(&node, &ann, &sku).await;
    assert_eq!(
        (st["on_hand"].as_i64(), st["sold"].as_i64()),
        (Some(8), Some(2)),
        "{st}"
    );
}

#[tokio::test]
async fn ordering_more_than_available_fails_and_reserves_nothing() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let scarce = product(&node, &admin, 500, 2).await;
    let plenty = product(&node, &admin, 500, 50).await;
    let body = json!({"items": [{"sku": plenty, "quantity": 5}, {"sku": scarce, "quantity": 3}],
                      "payment": card("4242424242424242"), "shipping_address": address()});
    let order = place(&node, &ann, body).await;
    let order = settled(
        &node,
        &ann,
        order["id"].as_str().unwrap(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(order["status"], "failed", "{order}");
    assert!(
        order["failure_reason"].as_str().unwrap().contains(&scarce),
        "{order}"
    );
    for sku in [&scarce, &plenty] {
        let st = stock(&node, &ann, sku).await;
        assert_eq!(st["reserved"], 0, "all or nothing: {st}");
    }
    let (s, _) = node
        .get(
            &format!("/payments/{}", order["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "never charged");
}

#[tokio::test]
async fn cancelling_a_confirmed_order_restocks_and_refunds() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 450, 10).await;
    node.deposit(&ann, 5_000).await;
    let order = place(
        &node,
        &ann,
        order_body(&sku, 4, json!({"method": "wallet"})),
    )
    .await;
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(
        settled(&node, &ann, &id, Duration::from_secs(20)).await["status"],
        "confirmed"
    );
    assert_eq!(node.balance(&ann).await, 5_000 - 1_800);

    let (s, v) = node
        .post(&format!("/orders/{id}/cancel"), Some(&ann), json!({}))
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("cancelled")),
        "{v}"
    );
    eventually(Duration::from_secs(10), "refund and restock", || async {
        node.balance(&ann).await == 5_000 && stock(&node, &ann, &sku).await["on_hand"] == 10
    })
    .await;
    let st = stock(&node, &ann, &sku).await;
    assert_eq!(
        (st["sold"].as_i64(), st["reserved"].as_i64()),
        (Some(0), Some(0)),
        "{st}"
    );
    eventually(Duration::from_secs(10), "payment refunded", || async {
        node.get(&format!("/payments/{id}"), &ann).await.1["status"] == "refunded"
    })
    .await;
    // Cancelling twice is a conflict; nothing moves again.
    assert_eq!(
        node.post(&format!("/orders/{id}/cancel"), Some(&ann), json!({}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(node.balance(&ann).await, 5_000);
}

/// Places `n` orders of one unit each, in parallel; returns their ids.
async fn place_many(
    node: &Node,
    token: &str,
    sku: &str,
    n: usize,
    payment: Value,
    tag: &str,
) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (c, url, t, body) = (
                node.client.clone(),
                node.url("/orders"),
                token.to_owned(),
                order_body(sku, 1, payment.clone()),
            );
            let key = format!("{tag}-{i}");
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .bearer_auth(t)
                    .header("Idempotency-Key", key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let v: Value = r.json().await.unwrap();
                assert!(
                    status == StatusCode::CREATED || status == StatusCode::ACCEPTED,
                    "{status}: {v}"
                );
                v["id"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids
}

/// Kills `actor` (down 2 s) while 20 orders are placed: all confirm, each paid once.
async fn saga_survives(actor: &str, fault: Value) {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 100, 100).await;
    node.deposit(&ann, 10_000).await;
    let mut f = fault.clone();
    f["actor"] = json!(actor);
    let (s, v) = node.fault(&admin, f).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut ids = place_many(&node, &ann, &sku, 10, card("4242424242424242"), "card").await;
    ids.extend(place_many(&node, &ann, &sku, 10, json!({"method": "wallet"}), "wallet").await);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "{ids:?}");
    for id in &ids {
        let o = settled(&node, &ann, id, Duration::from_secs(40)).await;
        assert_eq!(o["status"], "confirmed", "{actor}: {o}");
        let (s, p) = node.get(&format!("/payments/{id}"), &ann).await;
        assert_eq!(
            (s, p["status"].as_str(), p["amount_cents"].as_i64()),
            (StatusCode::OK, Some("captured"), Some(100)),
            "{p}"
        );
    }
    assert_eq!(
        node.balance(&ann).await,
        10_000 - 10 * 100,
        "each wallet order debited once"
    );
    let st = stock(&node, &ann, &sku).await;
    assert_eq!(
        (
            st["on_hand"].as_i64(),
            st["sold"].as_i64(),
            st["reserved"].as_i64()
        ),
        (Some(80), Some(20), Some(0)),
        "{st}"
    );
    let a = node.actor(&admin, actor).await;
    assert!(a["restarts"].as_u64().unwrap() >= 1, "{a}");
}

#[tokio::test]
async fn payments_killed_mid_saga_every_order_confirms_and_is_charged_once() {
    saga_survives("payments", json!({"action": "kill", "down_ms": 2000})).await;
}

#[tokio::test]
async fn inventory_killed_mid_saga_every_order_confirms() {
    saga_survives("inventory", json!({"action": "kill", "down_ms": 2000})).await;
}

#[tokio::test]
async fn orders_crashing_mid_saga_every_order_confirms() {
    saga_survives("orders", json!({"action": "crash_next", "count": 3})).await;
}

#[tokio::test]
async fn kill_9_during_100_concurrent_orders_then_every_order_settles_and_stock_is_conserved() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let ann_email = email("ann");
    let (ann, _) = node.register(&ann_email).await;
    const INITIAL: i64 = 1_000;
    const FUNDS: i64 = 100_000;
    let sku = product(&node, &admin, 100, INITIAL).await;
    node.deposit(&ann, FUNDS).await;

    let node = Arc::new(node);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let payment = if i % 2 == 0 {
            card("4242424242424242")
        } else {
            json!({"method": "wallet"})
        };
        let (c, url, t, body, tx) = (
            node.client.clone(),
            node.url("/orders"),
            ann.clone(),
            order_body(&sku, 1 + (i % 3) as i64, payment),
            tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(url)
                .bearer_auth(t)
                .header("Idempotency-Key", format!("o-{i}"))
                .json(&body)
                .send()
                .await;
            let id = match r {
                Ok(r) if r.status() == StatusCode::CREATED => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned)),
                _ => None,
            };
            let _ = tx.send(());
            (i, body, id)
        }));
    }
    for _ in 0..15 {
        rx.recv().await;
    }
    let mut node = Arc::try_unwrap(node)
        .ok()
        .expect("only this test holds the node");
    node.kill9();
    let tmp = node.keep_data();
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await.unwrap());
    }
    let acked = sent.iter().filter(|(_, _, id)| id.is_some()).count();
    assert!(
        (15..100).contains(&acked),
        "the kill landed mid-stream ({acked} of 100 acknowledged)"
    );

    let node = Node::start_on(tmp.path()).await;
    let ann = node.login(&ann_email, crate::support::PASSWORD).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Re-send everything with its key: acknowledged ones answer their order.
    let mut ids: HashMap<usize, String> = HashMap::new();
    for (i, body, first) in sent {
        let (s, v, _) = node
            .call(
                Method::POST,
                "/orders",
                Some(&ann),
                Some(body),
                &[
                    ("Idempotency-Key", &format!("o-{i}")),
                    ("Prefer", "wait=20"),
                ],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "re-send {i}: {v}");
        let id = v["id"].as_str().unwrap().to_owned();
        if let Some(first) = first {
            assert_eq!(id, first, "re-send {i} answers the acknowledged order");
        }
        ids.insert(i, id);
    }
    let mut sold = 0;
    let mut wallet_spent = 0;
    for (i, id) in &ids {
        let o = settled(&node, &ann, id, Duration::from_secs(60)).await;
        assert_eq!(o["status"], "confirmed", "order {i}: {o}");
        sold += o["lines"][0]["quantity"].as_i64().unwrap();
        let (_, p) = node.get(&format!("/payments/{id}"), &ann).await;
        assert_eq!(p["status"], "captured", "{p}");
        assert_eq!(p["amount_cents"], o["total_cents"]);
        if o["payment_method"] == "wallet" {
            wallet_spent += o["total_cents"].as_i64().unwrap();
        }
    }
    let (_, all) = node.get("/orders?page_size=100", &ann).await;
    assert_eq!(all["total"], 100, "no order twice");
    eventually(Duration::from_secs(20), "no reservation left", || async {
        stock(&node, &ann, &sku).await["reserved"] == 0
    })
    .await;
    let st = stock(&node, &ann, &sku).await;
    assert_eq!(st["sold"].as_i64().unwrap(), sold, "{st}");
    assert_eq!(
        st["on_hand"].as_i64().unwrap() + st["sold"].as_i64().unwrap(),
        INITIAL,
        "stock conserved: {st}"
    );
    assert!(st["on_hand"].as_i64().unwrap() >= 0);
    assert_eq!(
        node.balance(&ann).await,
        FUNDS - wallet_spent,
        "no wallet order charged twice"
    );
}

#[tokio::test]
async fn bad_orders_are_refused_and_change_nothing() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 100, 5).await;
    let cases = [
        (
            json!({"payment": card("4242424242424242"), "shipping_address": address()}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ), // empty cart
        (
            order_body(&sku, 0, card("4242424242424242")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order_body(&sku, 5000, card("4242424242424242")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order_body("NOPE-1", 1, card("4242424242424242")),
            StatusCode::NOT_FOUND,
        ),
        (
            order_body(&sku, 1, card("4242424242424241")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ), // Luhn
        (
            order_body(
                &sku,
                1,
                json!({"method": "card", "card": {"number": "4242424242424242", "expiry": "01/20", "cvv": "123"}}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order_body(&sku, 1, json!({"method": "card"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            order_body(&sku, 1, json!({"method": "cash"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"items": [{"sku": sku, "quantity": 1}], "payment": {"method": "wallet"}, "shipping_address": {"name": ""}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"items": [{"sku": sku, "quantity": "one"}], "payment": {"method": "wallet"}, "shipping_address": address()}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, want) in cases {
        let (s, v, h) = node
            .call(Method::POST, "/orders", Some(&ann), Some(body.clone()), &[])
            .await;
        assert_eq!(s, want, "{body} → {v}");
        assert_eq!(h["content-type"], "application/problem+json");
    }
    let (s, _, _) = node
        .call(
            Method::POST,
            "/orders",
            None,
            Some(order_body(&sku, 1, json!({"method": "wallet"}))),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        node.get(&format!("/orders/{}", uuid::Uuid::new_v4()), &ann)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.get("/orders/not-a-uuid", &ann).await.0,
        StatusCode::BAD_REQUEST
    );
    let (s, _, _) = node
        .call(
            Method::PATCH,
            &format!("/orders/{}/status", uuid::Uuid::new_v4()),
            Some(&admin),
            Some(json!({"status": "teleported"})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        node.get("/orders", &ann).await.1["total"],
        0,
        "nothing was created"
    );
    assert_eq!(stock(&node, &ann, &sku).await["reserved"], 0);
}

#[tokio::test]
async fn orders_over_grpc_run_the_same_saga() {
    use mailroom::grpc::pb::orders::{
        orders_client::OrdersClient, Address, GetOrderRequest, Item, Payment, PlaceOrderRequest,
    };
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let sku = product(&node, &admin, 250, 10).await;
    node.deposit(&ann, 1_000).await;
    let ch = tonic::transport::Channel::from_shared(node.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut orders = OrdersClient::new(ch);
    let placed = orders
        .place_order(authed(
            PlaceOrderRequest {
                items: vec![Item {
                    sku: sku.clone(),
                    quantity: 2,
                }],
                payment: Some(Payment {
                    method: "wallet".into(),
                    card: None,
                }),
                shipping_address: Some(Address {
                    name: "Ann".into(),
                    line1: "1 Main".into(),
                    line2: None,
                    city: "X".into(),
                    postal_code: "1".into(),
                    country: "US".into(),
                }),
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(placed.total_cents, 500);
    let o = settled(&node, &ann, &placed.id, Duration::from_secs(20)).await;
    assert_eq!(o["status"], "confirmed");
    let got = orders
        .get_order(authed(
            GetOrderRequest {
                id: placed.id.clone(),
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, "confirmed");
    assert_eq!(
        got.tracking_number.as_deref(),
        o["tracking_number"].as_str()
    );
    assert_eq!(node.balance(&ann).await, 500);
    let err = orders
        .get_order(authed(GetOrderRequest { id: "nope".into() }, &ann))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}
