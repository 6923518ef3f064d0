//! Scenario tests for inventory and analytics over REST and gRPC. Stock is
//! created by an admin's `PUT /inventory/{sku}` (a count of a new sku), so
//! these do not depend on the catalog. The saga's reserve/release/commit/
//! restock have no route; they are unit-tested in `src/actors/inventory`.
use std::time::Duration;

use mailroom::grpc::pb::{
    analytics::{analytics_client::AnalyticsClient, GetSalesRequest},
    inventory::{
        inventory_client::InventoryClient, DecreaseRequest, GetStockRequest, ListLowStockRequest,
        SetStockRequest,
    },
};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use tonic::{Code, Request};

use crate::support::{authed, channel, email, eventually, Node};

fn is_problem(h: &HeaderMap, v: &Value, status: StatusCode) {
    assert_eq!(
        h.get("content-type").and_then(|c| c.to_str().ok()),
        Some("application/problem+json"),
        "{v}"
    );
    assert_eq!(v["status"], status.as_u16(), "{v}");
    assert!(v["detail"].is_string(), "{v}");
}

async fn put_stock(
    node: &Node,
    token: Option<&str>,
    sku: &str,
    body: Value,
) -> (StatusCode, Value) {
    let (s, v, h) = node
        .call(
            Method::PUT,
            &format!("/inventory/{sku}"),
            token,
            Some(body),
            &[],
        )
        .await;
    if !s.is_success() {
        is_problem(&h, &v, s);
    }
    (s, v)
}

async fn decrease(node: &Node, token: Option<&str>, sku: &str, body: Value) -> (StatusCode, Value) {
    let (s, v, h) = node
        .call(
            Method::POST,
            &format!("/inventory/{sku}/decrease"),
            token,
            Some(body),
            &[],
        )
        .await;
    if !s.is_success() {
        is_problem(&h, &v, s);
    }
    (s, v)
}

/// A raw body, for JSON that `serde_json::json!` cannot express.
async fn raw(
    node: &Node,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
) -> (StatusCode, Value) {
    let res = node
        .client
        .request(method, node.url(path))
        .header("content-type", "application/json")
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let (s, v, h) = crate::support::split(res).await;
    is_problem(&h, &v, s);
    (s, v)
}

/// (on_hand, reserved, available, reorder_point, sold)
async fn stock(node: &Node, token: &str, sku: &str) -> (i64, i64, i64, i64, i64) {
    let (s, v) = node.get(&format!("/inventory/{sku}"), token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sku"], sku);
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        n("on_hand"),
        n("reserved"),
        n("available"),
        n("reorder_point"),
        n("sold"),
    )
}

#[tokio::test]
async fn stock_is_set_read_and_decreased_once_per_order() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;

    let (s, v) = node.get("/inventory/INV-ONE", &ann).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // An admin's count of a new sku creates its row (reorder point 5).
    let (s, v) = put_stock(&node, Some(&admin), "INV-ONE", json!({"on_hand": 10})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"sku": "INV-ONE", "on_hand": 10, "reserved": 0, "available": 10,
               "reorder_point": 5, "sold": 0})
    );
    // Any signed-in user reads it.
    assert_eq!(stock(&node, &ann, "INV-ONE").await, (10, 0, 10, 5, 0));

    let body = json!({"quantity": 3, "order_id": "seed-order-1"});
    let (s, v) = decrease(&node, Some(&admin), "INV-ONE", body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["on_hand"].as_i64(), v["sold"].as_i64()),
        (Some(7), Some(3))
    );
    // The same order again: the current stock, not a second decrease.
    let (s, v) = decrease(&node, Some(&admin), "INV-ONE", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["on_hand"], 7);
    assert_eq!(stock(&node, &ann, "INV-ONE").await, (7, 0, 7, 5, 3));

    // More than is available: 409, nothing moves.
    let (s, v) = decrease(
        &node,
        Some(&admin),
        "INV-ONE",
        json!({"quantity": 8, "order_id": "seed-order-2"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("7 available"), "{v}");
    // The same order reference with another quantity is a conflict too.
    let (s, v) = decrease(
        &node,
        Some(&admin),
        "INV-ONE",
        json!({"quantity": 2, "order_id": "seed-order-1"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // The whole remainder can go, then nothing more.
    let (s, v) = decrease(
        &node,
        Some(&admin),
        "INV-ONE",
        json!({"quantity": 7, "order_id": "seed-order-3"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = decrease(
        &node,
        Some(&admin),
        "INV-ONE",
        json!({"quantity": 1, "order_id": "seed-order-4"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Conserved: on_hand + sold is what was counted in.
    assert_eq!(stock(&node, &ann, "INV-ONE").await, (0, 0, 0, 5, 10));

    // A restock (a new count) keeps the reorder point unless given.
    let (s, v) = put_stock(
        &node,
        Some(&admin),
        "INV-ONE",
        json!({"on_hand": 40, "reorder_point": 12}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = put_stock(&node, Some(&admin), "INV-ONE", json!({"on_hand": 30})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stock(&node, &ann, "INV-ONE").await, (30, 0, 30, 12, 10));

    let (s, _) = decrease(
        &node,
        Some(&admin),
        "NO-SUCH-SKU",
        json!({"quantity": 1, "order_id": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn low_stock_lists_what_is_at_or_below_its_reorder_point() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    for (sku, on_hand, point) in [
        ("LOW-A", 2, 5),
        ("LOW-B", 5, 5),
        ("LOW-C", 0, 0),
        ("HIGH-A", 50, 5),
    ] {
        let (s, v) = put_stock(
            &node,
            Some(&admin),
            sku,
            json!({"on_hand": on_hand, "reorder_point": point}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // Only our skus (a seeded demo catalog may add its own).
    let ours = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap().to_owned())
            .filter(|s| s.starts_with("LOW-") || s.starts_with("HIGH-"))
            .collect()
    };
    let (s, v) = node.get("/inventory/low-stock?page_size=100", &admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut listed = ours(&v);
    listed.sort();
    assert_eq!(listed, ["LOW-A", "LOW-B", "LOW-C"]);
    let total = v["total"].as_u64().unwrap();
    assert!(total >= 3, "{v}");
    for item in v["items"].as_array().unwrap() {
        assert!(
            item["available"].as_i64() <= item["reorder_point"].as_i64(),
            "{item}"
        );
    }

    // Paged: one per page, the emptiest first.
    let (s, v) = node
        .get("/inventory/low-stock?page=1&page_size=1", &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (v["page"].as_u64(), v["page_size"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["total"].as_u64(), Some(total));
    assert_eq!(v["items"][0]["available"], 0);
    let (s, v) = node.get("/inventory/low-stock?page_size=101", &admin).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // A restock takes a sku off the list.
    put_stock(&node, Some(&admin), "LOW-A", json!({"on_hand": 6})).await;
    let (_, v) = node.get("/inventory/low-stock?page_size=100", &admin).await;
    let mut listed = ours(&v);
    listed.sort();
    assert_eq!(listed, ["LOW-B", "LOW-C"]);

    // Admin only.
    let (ann, _) = node.register(&email("ann")).await;
    let (s, v, h) = node
        .call(Method::GET, "/inventory/low-stock", Some(&ann), None, &[])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    is_problem(&h, &v, s);
    let (s, _, _) = node
        .call(Method::GET, "/inventory/low-stock", None, None, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_admins_change_stock_and_only_users_read_it() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    put_stock(&node, Some(&admin), "GUARDED", json!({"on_hand": 9})).await;

    let (s, _) = put_stock(&node, Some(&ann), "GUARDED", json!({"on_hand": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = put_stock(&node, None, "GUARDED", json!({"on_hand": 1})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = put_stock(&node, Some(&ann), "NEW-BY-ANN", json!({"on_hand": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let body = json!({"quantity": 1, "order_id": "ann-1"});
    let (s, _) = decrease(&node, Some(&ann), "GUARDED", body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = decrease(&node, None, "GUARDED", body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = node
        .call(Method::GET, "/inventory/GUARDED", None, None, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = node
        .call(
            Method::GET,
            "/inventory/GUARDED",
            Some("not-a-token"),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert_eq!(stock(&node, &ann, "GUARDED").await, (9, 0, 9, 5, 0));
    assert_eq!(
        node.get("/inventory/NEW-BY-ANN", &ann).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_inventory_input_is_refused_and_changes_nothing() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    put_stock(&node, Some(&admin), "STEADY", json!({"on_hand": 20})).await;

    let put = |body: &'static str| {
        let node = &node;
        let admin = &admin;
        async move {
            raw(node, Method::PUT, "/inventory/STEADY", admin, body)
                .await
                .0
        }
    };
    assert_eq!(put("{\"on_hand\": ").await, StatusCode::BAD_REQUEST);
    assert_eq!(put("not json").await, StatusCode::BAD_REQUEST);
    for body in [
        r#"{"on_hand": "lots"}"#,
        r#"{"on_hand": 1.5}"#,
        r#"{"on_hand": null}"#,
        r#"{}"#,
        r#"{"on_hand": 1, "extra": true}"#,
        r#"{"on_hand": 99999999999999999999999}"#,
        r#"{"on_hand": -1}"#,
        r#"{"on_hand": 1000000000001}"#,
        r#"{"on_hand": 1, "reorder_point": -5}"#,
        // serde would read an array as the fields in order.
        r#"[1, 2]"#,
    ] {
        let (s, v) = raw(&node, Method::PUT, "/inventory/STEADY", &admin, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    // A sku that could not be stocked: too long.
    let long = "X".repeat(65);
    let (s, _) = put_stock(&node, Some(&admin), &long, json!({"on_hand": 1})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let dec = "/inventory/STEADY/decrease";
    assert_eq!(
        raw(&node, Method::POST, dec, &admin, "{\"quantity\"")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    for body in [
        r#"{"quantity": 0, "order_id": "o"}"#,
        r#"{"quantity": -3, "order_id": "o"}"#,
        r#"{"quantity": 10001, "order_id": "o"}"#,
        r#"{"quantity": 9223372036854775807, "order_id": "o"}"#,
        r#"{"quantity": 1e40, "order_id": "o"}"#,
        r#"{"quantity": "1", "order_id": "o"}"#,
        r#"{"quantity": 1}"#,
        r#"{"quantity": 1, "order_id": ""}"#,
        r#"{"quantity": 1, "order_id": 7}"#,
        r#"{"quantity": 1, "order_id": "has spaces"}"#,
        r#"[1, "o"]"#,
    ] {
        let (s, v) = raw(&node, Method::POST, dec, &admin, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    // A body over 1 MiB.
    let huge = format!(
        r#"{{"quantity": 1, "order_id": "{}"}}"#,
        "a".repeat(1 << 20)
    );
    let res = node
        .client
        .post(node.url(dec))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // None of it changed anything, and the stock is still exactly there.
    assert_eq!(stock(&node, &admin, "STEADY").await, (20, 0, 20, 5, 0));
    let (s, _) = decrease(
        &node,
        Some(&admin),
        "STEADY",
        json!({"quantity": 1, "order_id": "o"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the refused order reference was never recorded"
    );
}

/// The status code of a call that must fail.
fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    r.unwrap_err().code()
}

#[tokio::test]
async fn grpc_inventory_answers_as_rest_does() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let mut inv = InventoryClient::new(channel(&node).await);

    let set = |sku: &str, on_hand: i64, point: Option<i64>| SetStockRequest {
        sku: sku.into(),
        on_hand,
        reorder_point: point,
    };
    let s = inv
        .set_stock(authed(set("G-1", 12, Some(3)), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.on_hand, s.available, s.reorder_point), (12, 12, 3));

    // GetStock over gRPC equals GET over REST.
    let get = |sku: &str| GetStockRequest { sku: sku.into() };
    let g = inv
        .get_stock(authed(get("G-1"), &ann))
        .await
        .unwrap()
        .into_inner();
    let (_, rest) = node.get("/inventory/G-1", &ann).await;
    assert_eq!(
        rest,
        json!({"sku": g.sku, "on_hand": g.on_hand, "reserved": g.reserved,
               "available": g.available, "reorder_point": g.reorder_point, "sold": g.sold})
    );

    // Decrease over gRPC, once per order reference; REST sees it.
    let dec = |q: i64, order: &str| DecreaseRequest {
        sku: "G-1".into(),
        quantity: q,
        order_id: order.into(),
    };
    for _ in 0..2 {
        let d = inv
            .decrease(authed(dec(4, "grpc-1"), &admin))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((d.on_hand, d.sold), (8, 4));
    }
    assert_eq!(stock(&node, &ann, "G-1").await, (8, 0, 8, 3, 4));

    assert_eq!(
        code(inv.decrease(authed(dec(9, "grpc-2"), &admin)).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(inv.decrease(authed(dec(0, "grpc-3"), &admin)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(inv.decrease(authed(dec(1, "grpc-4"), &ann)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(inv.decrease(Request::new(dec(1, "grpc-5"))).await),
        Code::Unauthenticated
    );
    assert_eq!(
        code(inv.set_stock(authed(set("G-1", -1, None), &admin)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(inv.set_stock(authed(set("G-1", 1, None), &ann)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(inv.get_stock(authed(get("G-NONE"), &ann)).await),
        Code::NotFound
    );
    assert_eq!(
        code(inv.get_stock(Request::new(get("G-1"))).await),
        Code::Unauthenticated
    );
    assert_eq!(stock(&node, &ann, "G-1").await, (8, 0, 8, 3, 4));

    // The low-stock list, as REST pages it.
    inv.set_stock(authed(set("G-LOW", 1, Some(4)), &admin))
        .await
        .unwrap();
    let list = inv
        .list_low_stock(authed(
            ListLowStockRequest {
                page: 1,
                page_size: 100,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(list.items.iter().any(|s| s.sku == "G-LOW"), "{list:?}");
    assert!(!list.items.iter().any(|s| s.sku == "G-1"), "{list:?}");
    let (_, rest) = node.get("/inventory/low-stock?page_size=100", &admin).await;
    assert_eq!(rest["total"].as_u64(), Some(list.total));
    let denied = inv
        .list_low_stock(authed(ListLowStockRequest::default(), &ann))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn analytics_sales_is_admin_only_validates_dates_and_counts_inventory_events() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;

    let (s, v) = node.get("/analytics/sales", &admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for key in ["orders", "units", "revenue_cents"] {
        assert!(v[key].is_i64(), "{key} in {v}");
    }
    assert_eq!(v["currency"], "USD");
    assert!(v["by_product"].is_array() && v["by_day"].is_array(), "{v}");
    assert!(v["from"].is_null() && v["to"].is_null(), "{v}");

    let (s, v) = node
        .get("/analytics/sales?from=2026-01-01&to=2026-01-31", &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["from"], "2026-01-01T00:00:00.000Z");
    assert_eq!(v["to"], "2026-01-31T23:59:59.999Z");
    let (s, v) = node
        .get(
            "/analytics/sales?from=2026-01-01T00:00:00Z&to=2026-01-01T12:30:00%2B02:00",
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["to"], "2026-01-01T10:30:00.000Z");

    for (query, status) in [
        ("from=yesterday", StatusCode::BAD_REQUEST),
        ("to=2026-02-30", StatusCode::BAD_REQUEST),
        ("from=2026-01-01T99:00:00Z", StatusCode::BAD_REQUEST),
        (
            "from=2026-02-01&to=2026-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, v, h) = node
            .call(
                Method::GET,
                &format!("/analytics/sales?{query}"),
                Some(&admin),
                None,
                &[],
            )
            .await;
        assert_eq!(s, status, "{query}: {v}");
        is_problem(&h, &v, s);
    }
    let (s, v, h) = node
        .call(Method::GET, "/analytics/sales", Some(&ann), None, &[])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    is_problem(&h, &v, s);
    let (s, _, _) = node
        .call(Method::GET, "/analytics/sales", None, None, &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // inventory.* events reach the report: a new count, then a dip below
    // the reorder point.
    let counters = |v: &Value| {
        (
            v["inventory"]["adjustments"].as_i64().unwrap(),
            v["inventory"]["low_stock_alerts"].as_i64().unwrap(),
        )
    };
    let (_, before) = node.get("/analytics/sales", &admin).await;
    let (adjustments, alerts) = counters(&before);
    put_stock(&node, Some(&admin), "AN-1", json!({"on_hand": 10})).await;
    decrease(
        &node,
        Some(&admin),
        "AN-1",
        json!({"quantity": 6, "order_id": "an-1"}),
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "analytics counts the inventory events",
        || async {
            let (_, v) = node.get("/analytics/sales", &admin).await;
            // At least: a seeding catalog may add its own events.
            let (a, l) = counters(&v);
            a >= adjustments + 2 && l > alerts
        },
    )
    .await;

    // gRPC: the same query, the same refusals.
    let mut an = AnalyticsClient::new(channel(&node).await);
    let r = an
        .get_sales(authed(
            GetSalesRequest {
                from: Some("2026-01-01".into()),
                to: None,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.from.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    assert_eq!(r.currency, "USD");
    assert!(r.inventory.unwrap().low_stock_alerts > alerts);
    let bad = an
        .get_sales(authed(
            GetSalesRequest {
                from: Some("soon".into()),
                to: None,
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let denied = an
        .get_sales(authed(GetSalesRequest::default(), &ann))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}
