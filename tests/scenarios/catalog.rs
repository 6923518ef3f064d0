//! Catalog and cart: browse/search/paginate the seeded demo catalog, admin
//! writes, the cart priced from the catalog's events, bad input, and both
//! services over gRPC.
use std::time::Duration;

use mailroom::grpc::pb::{
    cart::{
        cart_client::CartClient, AddItemRequest, ClearCartRequest, GetCartRequest,
        RemoveItemRequest, UpdateItemRequest,
    },
    catalog::{
        catalog_client::CatalogClient, CreateProductRequest, DeleteProductRequest,
        GetProductRequest, ListProductsRequest, UpdateProductRequest,
    },
};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use tonic::Code;

use crate::support::{authed, channel, email, eventually, Node};

const EVENTUALLY: Duration = Duration::from_secs(15);

// ---- helpers -----------------------------------------------------------------

/// An unauthenticated GET.
async fn public(node: &Node, path: &str) -> (StatusCode, Value) {
    let (s, v, _) = node.call(Method::GET, path, None, None, &[]).await;
    (s, v)
}

/// A raw body (for malformed JSON).
async fn raw(
    node: &Node,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value, HeaderMap) {
    let mut req = node
        .client
        .request(method, node.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    crate::support::split(req.send().await.unwrap()).await
}

fn assert_problem(what: &str, got: (StatusCode, &Value, &HeaderMap), want: StatusCode) {
    let (s, v, h) = got;
    assert_eq!(s, want, "{what}: {v}");
    assert_eq!(
        h.get("content-type").and_then(|c| c.to_str().ok()),
        Some("application/problem+json"),
        "{what}: {v}"
    );
    assert_eq!(v["status"], want.as_u16(), "{what}: {v}");
    assert!(
        v["type"].as_str().unwrap_or("").starts_with("/problems/"),
        "{what}: {v}"
    );
    assert!(v["detail"].is_string(), "{what}: {v}");
}

/// Every product of the catalog (by sku), over REST.
async fn all_products(node: &Node) -> Vec<Value> {
    let (s, v) = public(node, "/products?page_size=100").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["total"].as_u64().unwrap() <= 100,
        "catalog grew past a page"
    );
    v["items"].as_array().unwrap().clone()
}

fn skus(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

async fn price_of(node: &Node, sku: &str) -> i64 {
    let (s, v) = public(node, &format!("/products/{sku}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["price_cents"].as_i64().unwrap()
}

async fn cart(node: &Node, token: &str) -> Value {
    let (s, v) = node.get("/cart", token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn add(node: &Node, token: &str, sku: &str, quantity: i64) -> (StatusCode, Value) {
    node.post(
        "/cart/items",
        Some(token),
        json!({"sku": sku, "quantity": quantity}),
    )
    .await
}

async fn patch(node: &Node, token: &str, sku: &str, quantity: i64) -> (StatusCode, Value) {
    let (s, v, _) = node
        .call(
            Method::PATCH,
            &format!("/cart/items/{sku}"),
            Some(token),
            Some(json!({ "quantity": quantity })),
            &[],
        )
        .await;
    (s, v)
}

async fn delete(node: &Node, path: &str, token: &str) -> (StatusCode, Value) {
    let (s, v, _) = node
        .call(Method::DELETE, path, Some(token), None, &[])
        .await;
    (s, v)
}

/// Checks that a cart's line and grand totals add up.
fn assert_totals(cart: &Value) {
    let mut total = 0;
    for line in cart["items"].as_array().unwrap() {
        let q = line["quantity"].as_i64().unwrap();
        let p = line["unit_price_cents"].as_i64().unwrap();
        assert_eq!(line["line_total_cents"].as_i64().unwrap(), q * p, "{cart}");
        total += q * p;
    }
    assert_eq!(cart["total_cents"].as_i64().unwrap(), total, "{cart}");
    assert_eq!(cart["currency"], "USD", "{cart}");
}

fn line<'a>(cart: &'a Value, sku: &str) -> Option<&'a Value> {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == sku)
}

fn new_product(sku: &str, price: i64) -> Value {
    json!({
        "sku": sku,
        "title": "The Test Pattern",
        "author": "Ada Tester",
        "category": "testing",
        "description": "A book that exists only in tests.",
        "price_cents": price,
        "initial_stock": 5
    })
}

// ---- browse, search, paginate ------------------------------------------------

#[tokio::test]
async fn the_seeded_catalog_can_be_browsed_searched_and_paginated() {
    let node = Node::start().await;

    // Default page: 20 items of a few dozen books, ordered by sku, no token needed.
    let (s, first) = public(&node, "/products").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let total = first["total"].as_u64().unwrap();
    assert!((30..=40).contains(&total), "demo catalog size: {total}");
    assert_eq!(first["page"], 1);
    assert_eq!(first["page_size"], 20);
    assert_eq!(first["items"].as_array().unwrap().len(), 20);

    let all = all_products(&node).await;
    assert_eq!(all.len() as u64, total);
    let all_skus: Vec<String> = all
        .iter()
        .map(|p| p["sku"].as_str().unwrap().into())
        .collect();
    let mut sorted = all_skus.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all_skus, sorted, "ordered by sku, no duplicates");
    for p in &all {
        assert_eq!(p["currency"], "USD", "{p}");
        let price = p["price_cents"].as_i64().unwrap();
        assert!((500..=6000).contains(&price), "{p}");
        assert!(p["title"].is_string() && p["author"].is_string(), "{p}");
        assert!(
            ["fiction", "science", "history", "programming", "children"]
                .contains(&p["category"].as_str().unwrap()),
            "{p}"
        );
    }

    // Pages partition the catalog.
    let (_, p1) = public(&node, "/products?page=1&page_size=7").await;
    let (_, p2) = public(&node, "/products?page=2&page_size=7").await;
    assert_eq!(p2["page"], 2);
    assert_eq!(p2["page_size"], 7);
    assert_eq!(p2["total"], total);
    assert_eq!(skus(&p1["items"]), all_skus[0..7].to_vec());
    assert_eq!(skus(&p2["items"]), all_skus[7..14].to_vec());
    let last = total.div_ceil(7);
    let (_, tail) = public(&node, &format!("/products?page={last}&page_size=7")).await;
    assert_eq!(
        skus(&tail["items"]),
        all_skus[(7 * (last as usize - 1))..].to_vec()
    );
    let (_, beyond) = public(&node, &format!("/products?page={}&page_size=7", last + 1)).await;
    assert_eq!(beyond["items"].as_array().unwrap().len(), 0);
    assert_eq!(beyond["total"], total);

    // q: case-insensitive substring of the title...
    let (s, rust) = public(&node, "/products?q=RuSt").await;
    assert_eq!(s, StatusCode::OK);
    let expected: Vec<String> = all
        .iter()
        .filter(|p| p["title"].as_str().unwrap().to_lowercase().contains("rust"))
        .map(|p| p["sku"].as_str().unwrap().into())
        .collect();
    assert!(expected.len() >= 2);
    assert_eq!(skus(&rust["items"]), expected);
    assert_eq!(rust["total"], expected.len());
    // ... and of the author.
    let (_, austen) = public(&node, "/products?q=austen").await;
    assert_eq!(austen["total"], 1, "{austen}");
    assert_eq!(austen["items"][0]["title"], "Pride and Prejudice");
    let (_, carroll) = public(&node, "/products?q=%20CARROLL%20").await;
    assert_eq!(
        carroll["total"], 1,
        "surrounding spaces are trimmed: {carroll}"
    );
    // Wildcards are literal.
    for q in ["%25", "_", "%5C"] {
        let (s, v) = public(&node, &format!("/products?q={q}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["total"], 0, "q={q}: {v}");
    }
    let (_, none) = public(&node, "/products?q=zzzz-no-such-book").await;
    assert_eq!(none["total"], 0);
    assert_eq!(none["items"], json!([]));

    // category: exact.
    let (_, science) = public(&node, "/products?category=science&page_size=100").await;
    let n_science = all.iter().filter(|p| p["category"] == "science").count();
    assert!(n_science >= 3);
    assert_eq!(science["total"], n_science);
    assert!(science["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["category"] == "science"));
    let (_, upper) = public(&node, "/products?category=Science").await;
    assert_eq!(upper["total"], 0, "category is exact: {upper}");
    // Both together.
    let (_, both) = public(&node, "/products?category=programming&q=rust").await;
    assert_eq!(
        skus(&both["items"]),
        expected,
        "both Rust books are programming"
    );
    let (_, both) = public(&node, "/products?category=fiction&q=rust").await;
    assert_eq!(both["total"], 0);

    // One product; an unknown one is a 404 problem.
    let (s, p) = public(&node, "/products/BK-0001").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p, all[0]);
    let (s, v, h) = node
        .call(Method::GET, "/products/NO-SUCH-SKU", None, None, &[])
        .await;
    assert_problem("unknown sku", (s, &v, &h), StatusCode::NOT_FOUND);

    // Bad paging and search.
    for (path, want) in [
        ("/products?page_size=101", StatusCode::UNPROCESSABLE_ENTITY),
        ("/products?page=abc", StatusCode::BAD_REQUEST),
        ("/products?page_size=-1", StatusCode::BAD_REQUEST),
    ] {
        let (s, v, h) = node.call(Method::GET, path, None, None, &[]).await;
        assert_problem(path, (s, &v, &h), want);
    }
    let long_q = format!("/products?q={}", "a".repeat(201));
    let (s, v, h) = node.call(Method::GET, &long_q, None, None, &[]).await;
    assert_problem("long q", (s, &v, &h), StatusCode::UNPROCESSABLE_ENTITY);

    // The OpenAPI document lists the new paths.
    let (s, doc) = public(&node, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/api/v1/products",
        "/api/v1/products/{sku}",
        "/api/v1/cart",
        "/api/v1/cart/items",
        "/api/v1/cart/items/{sku}",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(doc["paths"]["/api/v1/products/{sku}"]["delete"].is_object());
    assert!(doc["components"]["schemas"]["CartView"].is_object());
}

// ---- admin writes --------------------------------------------------------------

#[tokio::test]
async fn only_admins_write_products() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let body = new_product("TST-AUTH", 1000);
    let update = json!({"title": "Hijacked", "category": "fiction", "price_cents": 1});

    for (method, path, body) in [
        (Method::POST, "/products", Some(body.clone())),
        (Method::PUT, "/products/BK-0001", Some(update.clone())),
        (Method::DELETE, "/products/BK-0001", None),
    ] {
        let (s, v, h) = node
            .call(method.clone(), path, Some(&ann), body.clone(), &[])
            .await;
        assert_problem(
            &format!("customer {method} {path}"),
            (s, &v, &h),
            StatusCode::FORBIDDEN,
        );
        let (s, v, h) = node.call(method.clone(), path, None, body, &[]).await;
        assert_problem(
            &format!("anonymous {method} {path}"),
            (s, &v, &h),
            StatusCode::UNAUTHORIZED,
        );
        let (s, _, _) = node
            .call(method.clone(), path, Some("not.a.jwt"), None, &[])
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "forged token {method} {path}");
    }

    // Nothing changed.
    assert_eq!(
        public(&node, "/products/TST-AUTH").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, p) = public(&node, "/products/BK-0001").await;
    assert_eq!(p["title"], "Pride and Prejudice");
}

#[tokio::test]
async fn create_update_delete_round_trip_reaches_the_cart() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (_, before) = public(&node, "/products").await;
    let total = before["total"].as_u64().unwrap();

    // Create (idempotently), then a duplicate sku is a conflict.
    let key = [("Idempotency-Key", "create-tst-1")];
    let (s, created, _) = node
        .call(
            Method::POST,
            "/products",
            Some(&admin),
            Some(new_product("TST-1", 1000)),
            &key,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["sku"], "TST-1");
    assert_eq!(created["price_cents"], 1000);
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["author"], "Ada Tester");
    let (s, again, _) = node
        .call(
            Method::POST,
            "/products",
            Some(&admin),
            Some(new_product("TST-1", 1000)),
            &key,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "a repeated key answers the first result: {again}"
    );
    assert_eq!(again, created);
    let (s, v, h) = node
        .call(
            Method::POST,
            "/products",
            Some(&admin),
            Some(new_product("TST-1", 2000)),
            &[],
        )
        .await;
    assert_problem("duplicate sku", (s, &v, &h), StatusCode::CONFLICT);

    let (s, got) = public(&node, "/products/TST-1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, created);
    let (_, after) = public(&node, "/products").await;
    assert_eq!(after["total"], total + 1);
    let (_, found) = public(&node, "/products?q=test%20pattern").await;
    assert_eq!(skus(&found["items"]), vec!["TST-1".to_owned()]);
    let (_, found) = public(&node, "/products?q=ada&category=testing").await;
    assert_eq!(found["total"], 1);

    // The cart learns about it through catalog.product.created.
    eventually(EVENTUALLY, "TST-1 can be added to a cart", || async {
        add(&node, &ann, "TST-1", 2).await.0 == StatusCode::OK
    })
    .await;
    let c = cart(&node, &ann).await;
    assert_eq!(c["items"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["items"][0]["title"], "The Test Pattern");
    assert_eq!(c["items"][0]["quantity"], 2);
    assert_eq!(c["total_cents"], 2000);

    // Update: fields replaced (an absent author is cleared), sku kept.
    let (s, updated, _) = node
        .call(
            Method::PUT,
            "/products/TST-1",
            Some(&admin),
            Some(json!({"sku": "TST-1", "title": "The Test Pattern, 2nd ed.", "category": "testing", "price_cents": 1500, "currency": "USD"})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["price_cents"], 1500);
    assert!(updated.get("author").is_none(), "{updated}");
    let (_, got) = public(&node, "/products/TST-1").await;
    assert_eq!(got, updated);
    let (_, by_author) = public(&node, "/products?q=ada%20tester").await;
    assert_eq!(by_author["total"], 0, "the old author no longer matches");
    let (s, v, h) = node
        .call(
            Method::PUT,
            "/products/NOPE-1",
            Some(&admin),
            Some(json!({"title": "x", "category": "testing", "price_cents": 100})),
            &[],
        )
        .await;
    assert_problem("update unknown", (s, &v, &h), StatusCode::NOT_FOUND);

    // The cart shows the new price and title (catalog.product.updated).
    eventually(EVENTUALLY, "the cart shows the new price", || async {
        let c = cart(&node, &ann).await;
        c["items"][0]["unit_price_cents"] == 1500
    })
    .await;
    let c = cart(&node, &ann).await;
    assert_eq!(c["items"][0]["title"], "The Test Pattern, 2nd ed.");
    assert_eq!(c["items"][0]["line_total_cents"], 3000);
    assert_eq!(c["total_cents"], 3000);

    // Delete: 200 with the deleted product; then 404 everywhere.
    let (s, deleted) = delete(&node, "/products/TST-1", &admin).await;
    assert_eq!(s, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, updated);
    assert_eq!(
        public(&node, "/products/TST-1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&node, "/products/TST-1", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, after) = public(&node, "/products").await;
    assert_eq!(after["total"], total);

    // ... and it leaves the cart (catalog.product.deleted).
    eventually(
        EVENTUALLY,
        "the deleted product leaves the cart",
        || async { cart(&node, &ann).await["items"] == json!([]) },
    )
    .await;
    assert_eq!(cart(&node, &ann).await["total_cents"], 0);
    eventually(EVENTUALLY, "TST-1 can no longer be added", || async {
        add(&node, &ann, "TST-1", 1).await.0 == StatusCode::NOT_FOUND
    })
    .await;

    // The sku can be used again.
    let (s, v) = node
        .post("/products", Some(&admin), new_product("TST-1", 700))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["price_cents"], 700);
}

// ---- the cart ------------------------------------------------------------------

#[tokio::test]
async fn cart_add_update_remove_clear_keep_totals() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let (bob, _) = node.register(&email("bob")).await;
    let p1 = price_of(&node, "BK-0001").await;
    let p10 = price_of(&node, "BK-0010").await;

    let empty = cart(&node, &ann).await;
    assert_eq!(
        empty,
        json!({"items": [], "total_cents": 0, "currency": "USD"})
    );
    let (s, v, h) = node.call(Method::GET, "/cart", None, None, &[]).await;
    assert_problem("anonymous cart", (s, &v, &h), StatusCode::UNAUTHORIZED);

    // Add, then add more of the same: quantities add up.
    let (s, c) = add(&node, &ann, "BK-0001", 2).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["total_cents"], 2 * p1);
    let (_, c) = add(&node, &ann, "BK-0001", 1).await;
    assert_eq!(line(&c, "BK-0001").unwrap()["quantity"], 3);
    let (_, c) = add(&node, &ann, "BK-0010", 1).await;
    assert_eq!(
        skus(&c["items"]),
        vec!["BK-0001", "BK-0010"],
        "in the order added"
    );
    assert_eq!(c["items"][0]["title"], "Pride and Prejudice");
    assert_eq!(c["items"][0]["unit_price_cents"], p1);
    assert_eq!(c["total_cents"], 3 * p1 + p10);
    assert_totals(&c);
    assert_eq!(
        cart(&node, &ann).await,
        c,
        "GET shows what the command answered"
    );

    // Set a quantity.
    let (s, c) = patch(&node, &ann, "BK-0010", 4).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(line(&c, "BK-0010").unwrap()["line_total_cents"], 4 * p10);
    assert_eq!(c["total_cents"], 3 * p1 + 4 * p10);
    assert_totals(&c);
    let (s, v) = patch(&node, &ann, "BK-0002", 1).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not in the cart: {v}");

    // An Idempotency-Key applies an add once.
    let key = [("Idempotency-Key", "add-bk-0002")];
    for _ in 0..3 {
        let (s, c, _) = node
            .call(
                Method::POST,
                "/cart/items",
                Some(&ann),
                Some(json!({"sku": "BK-0002", "quantity": 2})),
                &key,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(line(&c, "BK-0002").unwrap()["quantity"], 2);
    }
    assert_eq!(
        line(&cart(&node, &ann).await, "BK-0002").unwrap()["quantity"],
        2
    );

    // Bob's cart is his own.
    assert_eq!(cart(&node, &bob).await["items"], json!([]));
    let (s, _) = delete(&node, "/cart/items/BK-0001", &bob).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, b) = add(&node, &bob, "BK-0003", 1).await;
    assert_eq!(skus(&b["items"]), vec!["BK-0003"]);

    // Remove one line; again is a 404.
    let (s, c) = delete(&node, "/cart/items/BK-0001", &ann).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(skus(&c["items"]), vec!["BK-0010", "BK-0002"]);
    assert_totals(&c);
    let (s, v) = delete(&node, "/cart/items/BK-0001", &ann).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // A line holds at most 1000 units.
    let (s, c) = patch(&node, &ann, "BK-0010", 1000).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (s, v) = add(&node, &ann, "BK-0010", 1).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        line(&cart(&node, &ann).await, "BK-0010").unwrap()["quantity"],
        1000
    );

    // Clear: empty, and clearing an empty cart is fine.
    let (s, c) = delete(&node, "/cart", &ann).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c, empty);
    let (s, c) = delete(&node, "/cart", &ann).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c, empty);
    assert_eq!(cart(&node, &ann).await, empty);
    // Bob's cart was not touched.
    assert_eq!(skus(&cart(&node, &bob).await["items"]), vec!["BK-0003"]);
}

// ---- bad input -----------------------------------------------------------------

#[tokio::test]
async fn bad_input_on_catalog_and_cart_is_a_4xx_problem_and_changes_nothing() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let catalog_before = all_products(&node).await;
    assert_eq!(add(&node, &ann, "BK-0001", 2).await.0, StatusCode::OK);
    let cart_before = cart(&node, &ann).await;
    let original = catalog_before[0].clone();

    // POST /products.
    let long = "x".repeat(201);
    let mut cases: Vec<(&str, String, StatusCode)> = vec![
        ("malformed JSON", r#"{"sku": "BAD-1", "#.into(), StatusCode::BAD_REQUEST),
        ("not an object", "[1, 2]".into(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "price as a string",
            r#"{"sku": "BAD-1", "title": "t", "category": "c", "price_cents": "lots"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing title",
            r#"{"sku": "BAD-1", "category": "c", "price_cents": 100}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field",
            r#"{"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 100, "color": "red"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "price as a float",
            r#"{"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 1.5}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "price beyond i64",
            r#"{"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 99999999999999999999}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    let bodies = [
        (
            "price -1",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "price_cents": -1}),
        ),
        (
            "price 0",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 0}),
        ),
        (
            "price too high",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 100_000_001}),
        ),
        (
            "blank title",
            json!({"sku": "BAD-1", "title": "   ", "category": "c", "price_cents": 100}),
        ),
        (
            "long title",
            json!({"sku": "BAD-1", "title": long, "category": "c", "price_cents": 100}),
        ),
        (
            "long author",
            json!({"sku": "BAD-1", "title": "t", "author": long, "category": "c", "price_cents": 100}),
        ),
        (
            "long category",
            json!({"sku": "BAD-1", "title": "t", "category": "c".repeat(51), "price_cents": 100}),
        ),
        (
            "long description",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "description": "d".repeat(4001), "price_cents": 100}),
        ),
        (
            "control chars",
            json!({"sku": "BAD-1", "title": "a\u{0007}b", "category": "c", "price_cents": 100}),
        ),
        (
            "empty sku",
            json!({"sku": "", "title": "t", "category": "c", "price_cents": 100}),
        ),
        (
            "sku with a space",
            json!({"sku": "BAD 1", "title": "t", "category": "c", "price_cents": 100}),
        ),
        (
            "sku with a slash",
            json!({"sku": "BAD/1", "title": "t", "category": "c", "price_cents": 100}),
        ),
        (
            "long sku",
            json!({"sku": "S".repeat(65), "title": "t", "category": "c", "price_cents": 100}),
        ),
        (
            "other currency",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 100, "currency": "EUR"}),
        ),
        (
            "negative stock",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 100, "initial_stock": -1}),
        ),
        (
            "huge stock",
            json!({"sku": "BAD-1", "title": "t", "category": "c", "price_cents": 100, "initial_stock": 1_000_000_001i64}),
        ),
    ];
    for (what, body) in &bodies {
        cases.push((what, body.to_string(), StatusCode::UNPROCESSABLE_ENTITY));
    }
    for (what, body, want) in &cases {
        let (s, v, h) = raw(&node, Method::POST, "/products", Some(&admin), body).await;
        assert_problem(&format!("POST /products {what}"), (s, &v, &h), *want);
    }
    let dup = json!({"sku": "BK-0001", "title": "t", "category": "c", "price_cents": 100});
    let (s, v, h) = node
        .call(Method::POST, "/products", Some(&admin), Some(dup), &[])
        .await;
    assert_problem("duplicate", (s, &v, &h), StatusCode::CONFLICT);

    // PUT /products/{sku}.
    let put_cases: Vec<(&str, String, StatusCode)> = vec![
        ("malformed JSON", "{".into(), StatusCode::BAD_REQUEST),
        (
            "price -1",
            json!({"title": "t", "category": "c", "price_cents": -1}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "wrong type",
            json!({"title": 5, "category": "c", "price_cents": 100}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "long title",
            json!({"title": "x".repeat(201), "category": "c", "price_cents": 100}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "sku mismatch",
            json!({"sku": "BK-0002", "title": "t", "category": "c", "price_cents": 100})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "initial_stock is create-only",
            json!({"title": "t", "category": "c", "price_cents": 100, "initial_stock": 3})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, body, want) in &put_cases {
        let (s, v, h) = raw(&node, Method::PUT, "/products/BK-0001", Some(&admin), body).await;
        assert_problem(&format!("PUT {what}"), (s, &v, &h), *want);
    }
    let (s, v, h) = raw(
        &node,
        Method::PUT,
        &format!("/products/{}", "S".repeat(300)),
        Some(&admin),
        &json!({"title": "t", "category": "c", "price_cents": 100}).to_string(),
    )
    .await;
    assert_problem("PUT an impossible sku", (s, &v, &h), StatusCode::NOT_FOUND);
    let (s, v, h) = node
        .call(
            Method::DELETE,
            "/products/NOPE-404",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_problem("DELETE unknown", (s, &v, &h), StatusCode::NOT_FOUND);

    // POST /cart/items and PATCH /cart/items/{sku}.
    let cart_cases: Vec<(&str, String, StatusCode)> = vec![
        (
            "malformed JSON",
            r#"{"sku": "BK-0001""#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "quantity as a string",
            r#"{"sku": "BK-0001", "quantity": "two"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "sku as a number",
            r#"{"sku": 1, "quantity": 1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing quantity",
            r#"{"sku": "BK-0001"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field",
            r#"{"sku": "BK-0001", "quantity": 1, "price_cents": 1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity 0",
            r#"{"sku": "BK-0001", "quantity": 0}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity -1",
            r#"{"sku": "BK-0001", "quantity": -1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity 5000",
            r#"{"sku": "BK-0001", "quantity": 5000}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity 1.5",
            r#"{"sku": "BK-0001", "quantity": 1.5}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "huge quantity",
            format!(r#"{{"sku": "BK-0001", "quantity": {}}}"#, i64::MAX),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown sku",
            r#"{"sku": "NO-SUCH-BOOK", "quantity": 1}"#.into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "malformed sku",
            r#"{"sku": "no such book!", "quantity": 1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "oversized sku",
            format!(r#"{{"sku": "{}", "quantity": 1}}"#, "S".repeat(5000)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, body, want) in &cart_cases {
        let (s, v, h) = raw(&node, Method::POST, "/cart/items", Some(&ann), body).await;
        assert_problem(&format!("POST /cart/items {what}"), (s, &v, &h), *want);
    }
    let patch_cases: Vec<(&str, &str, StatusCode)> = vec![
        ("malformed JSON", "{quantity: 1}", StatusCode::BAD_REQUEST),
        (
            "quantity as a string",
            r#"{"quantity": "1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity 0",
            r#"{"quantity": 0}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity 5000",
            r#"{"quantity": 5000}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "quantity -3",
            r#"{"quantity": -3}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field",
            r#"{"quantity": 1, "sku": "BK-0002"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, body, want) in &patch_cases {
        let (s, v, h) = raw(
            &node,
            Method::PATCH,
            "/cart/items/BK-0001",
            Some(&ann),
            body,
        )
        .await;
        assert_problem(&format!("PATCH {what}"), (s, &v, &h), *want);
    }
    let (s, v, h) = raw(
        &node,
        Method::PATCH,
        "/cart/items/BK-0005",
        Some(&ann),
        r#"{"quantity": 1}"#,
    )
    .await;
    assert_problem(
        "PATCH a line not in the cart",
        (s, &v, &h),
        StatusCode::NOT_FOUND,
    );
    let (s, v, h) = node
        .call(Method::DELETE, "/cart/items/BK-0005", Some(&ann), None, &[])
        .await;
    assert_problem(
        "DELETE a line not in the cart",
        (s, &v, &h),
        StatusCode::NOT_FOUND,
    );
    let (s, v, h) = raw(
        &node,
        Method::POST,
        "/cart/items",
        None,
        r#"{"sku": "BK-0001", "quantity": 1}"#,
    )
    .await;
    assert_problem("anonymous add", (s, &v, &h), StatusCode::UNAUTHORIZED);

    // Nothing changed.
    assert_eq!(all_products(&node).await, catalog_before);
    assert_eq!(
        public(&node, "/products/BAD-1").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, p) = public(&node, "/products/BK-0001").await;
    assert_eq!(p, original);
    assert_eq!(cart(&node, &ann).await, cart_before);
}

// ---- gRPC ----------------------------------------------------------------------

#[tokio::test]
async fn catalog_over_grpc_matches_rest() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (ann, _) = node.register(&email("ann")).await;
    let mut client = CatalogClient::new(channel(&node).await);

    // The same search, both edges.
    for (q, category, page, page_size) in [
        (None, None, 0, 0),
        (Some("the"), None, 2, 5),
        (Some("RUST"), Some("programming"), 1, 10),
        (None, Some("history"), 1, 100),
    ] {
        let res = client
            .list_products(ListProductsRequest {
                q: q.map(Into::into),
                category: category.map(Into::into),
                page,
                page_size,
            })
            .await
            .unwrap()
            .into_inner();
        let mut path = format!("/products?page={page}&page_size={page_size}");
        if let Some(q) = q {
            path.push_str(&format!("&q={q}"));
        }
        if let Some(c) = category {
            path.push_str(&format!("&category={c}"));
        }
        let (s, rest) = public(&node, &path).await;
        assert_eq!(s, StatusCode::OK, "{rest}");
        assert_eq!(rest["total"], res.total, "{path}");
        assert_eq!(rest["page"], res.page);
        assert_eq!(rest["page_size"], res.page_size);
        let grpc_items: Vec<Value> = res
            .items
            .iter()
            .map(|p| {
                let mut v = json!({"sku": p.sku, "title": p.title, "category": p.category,
                    "price_cents": p.price_cents, "currency": p.currency});
                if let Some(a) = &p.author {
                    v["author"] = json!(a);
                }
                if let Some(d) = &p.description {
                    v["description"] = json!(d);
                }
                v
            })
            .collect();
        assert_eq!(rest["items"], json!(grpc_items), "{path}");
    }
    let err = client
        .list_products(ListProductsRequest {
            page_size: 101,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let p = client
        .get_product(GetProductRequest {
            sku: "BK-0001".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.title, "Pride and Prejudice");
    let err = client
        .get_product(GetProductRequest { sku: "NOPE".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Writes: admin only.
    let create = CreateProductRequest {
        sku: "GRPC-1".into(),
        title: "Wire Formats".into(),
        author: Some("Pro Tobuf".into()),
        category: "programming".into(),
        description: None,
        price_cents: 2500,
        currency: None,
        initial_stock: Some(3),
    };
    let err = client.create_product(create.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = client
        .create_product(authed(create.clone(), &ann))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let p = client
        .create_product(authed(create.clone(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.currency, "USD");
    assert_eq!(p.price_cents, 2500);
    let err = client
        .create_product(authed(create.clone(), &admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "duplicate sku");
    let err = client
        .create_product(authed(
            CreateProductRequest {
                sku: "GRPC-2".into(),
                price_cents: -1,
                ..create.clone()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let (s, rest) = public(&node, "/products/GRPC-1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rest["author"], "Pro Tobuf");

    let update = UpdateProductRequest {
        sku: "GRPC-1".into(),
        title: "Wire Formats".into(),
        author: None,
        category: "programming".into(),
        description: Some("Varints all the way down.".into()),
        price_cents: 2700,
        currency: Some("USD".into()),
    };
    let err = client
        .update_product(authed(update.clone(), &ann))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let p = client
        .update_product(authed(update.clone(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.price_cents, 2700);
    assert_eq!(p.author, None);
    assert_eq!(
        public(&node, "/products/GRPC-1").await.1["price_cents"],
        2700
    );
    let err = client
        .update_product(authed(
            UpdateProductRequest {
                sku: "NOPE".into(),
                ..update.clone()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let p = client
        .delete_product(authed(
            DeleteProductRequest {
                sku: "GRPC-1".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.sku, "GRPC-1");
    assert_eq!(
        public(&node, "/products/GRPC-1").await.0,
        StatusCode::NOT_FOUND
    );
    let err = client
        .delete_product(authed(
            DeleteProductRequest {
                sku: "GRPC-1".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn cart_over_grpc_matches_rest() {
    let node = Node::start().await;
    let (ann, _) = node.register(&email("ann")).await;
    let mut client = CartClient::new(channel(&node).await);
    let p1 = price_of(&node, "BK-0001").await;
    let p2 = price_of(&node, "BK-0002").await;

    let err = client.get_cart(GetCartRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let c = client
        .get_cart(authed(GetCartRequest {}, &ann))
        .await
        .unwrap()
        .into_inner();
    assert!(c.items.is_empty());
    assert_eq!(c.total_cents, 0);
    assert_eq!(c.currency, "USD");

    let add = |sku: &str, quantity: i64| {
        authed(
            AddItemRequest {
                sku: sku.into(),
                quantity,
            },
            &ann,
        )
    };
    client.add_item(add("BK-0001", 2)).await.unwrap();
    let c = client
        .add_item(add("BK-0002", 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.items.len(), 2);
    assert_eq!(c.total_cents, 2 * p1 + p2);
    let c = client
        .update_item(authed(
            UpdateItemRequest {
                sku: "BK-0002".into(),
                quantity: 3,
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.items[1].quantity, 3);
    assert_eq!(c.items[1].line_total_cents, 3 * p2);
    assert_eq!(c.total_cents, 2 * p1 + 3 * p2);

    // REST sees the same cart.
    let rest = cart(&node, &ann).await;
    let grpc_view = json!({
        "items": c.items.iter().map(|i| json!({"sku": i.sku, "title": i.title, "quantity": i.quantity,
            "unit_price_cents": i.unit_price_cents, "line_total_cents": i.line_total_cents})).collect::<Vec<_>>(),
        "total_cents": c.total_cents,
        "currency": c.currency,
    });
    assert_eq!(rest, grpc_view);

    // Refusals.
    for (req, code) in [
        (add("BK-0001", 0), Code::InvalidArgument),
        (add("BK-0001", 5000), Code::InvalidArgument),
        (add("NO-SUCH-BOOK", 1), Code::NotFound),
        (add("bad sku!", 1), Code::InvalidArgument),
    ] {
        let err = client.add_item(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
    }
    let err = client
        .update_item(authed(
            UpdateItemRequest {
                sku: "BK-0001".into(),
                quantity: 0,
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .update_item(authed(
            UpdateItemRequest {
                sku: "BK-0009".into(),
                quantity: 1,
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(cart(&node, &ann).await, rest, "refusals changed nothing");

    let c = client
        .remove_item(authed(
            RemoveItemRequest {
                sku: "BK-0001".into(),
            },
            &ann,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.items.len(), 1);
    assert_eq!(c.total_cents, 3 * p2);
    let err = client
        .remove_item(authed(
            RemoveItemRequest {
                sku: "BK-0001".into(),
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let c = client
        .clear_cart(authed(ClearCartRequest {}, &ann))
        .await
        .unwrap()
        .into_inner();
    assert!(c.items.is_empty());
    assert_eq!(c.total_cents, 0);
    assert_eq!(cart(&node, &ann).await["items"], json!([]));
}
