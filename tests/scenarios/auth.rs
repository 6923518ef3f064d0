//! Authentication hardening (issue 8, items 4 and 5), on both edges: one
//! per-address limiter for Login/Register (gRPC as REST), tokens that die
//! with their account or with a password change, the last admin that
//! cannot be deleted, and an admin email taken by a customer stopping the
//! node at start.
use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use mailroom::grpc::pb::{
    cart::{cart_client::CartClient, AddItemRequest, GetCartRequest},
    mom::{
        queues_client::QueuesClient, CreateQueueRequest, CreateTopicRequest, ListQueuesRequest,
        PublishRequest, SubscribeRequest,
    },
    notifications::{notifications_client::NotificationsClient, ListNotificationsRequest},
    operations::{operations_client::OperationsClient, GetOperationRequest},
    orders::{
        orders_client::OrdersClient, Address, Item, ListOrdersRequest, Payment, PlaceOrderRequest,
    },
    payments::{payments_client::PaymentsClient, GetPaymentRequest, ValidateCardRequest},
    shipping::{shipping_client::ShippingClient, GetShipmentRequest},
    users::{
        users_client::UsersClient, DeleteMeRequest, GetMeRequest, LoginRequest, UpdateMeRequest,
    },
    wallets::{
        transfer_request::To, wallets_client::WalletsClient, DepositRequest, GetWalletRequest,
        ListTransfersRequest, TransferRequest,
    },
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tonic::{transport::Channel, Code, Request};

use crate::support::{authed, channel, email, Node, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

/// A product of the demo catalog (seeded on first start).
async fn some_sku(node: &Node, token: &str) -> String {
    let (s, v) = node.get("/products?page_size=1", token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["items"][0]["sku"]
        .as_str()
        .expect("a seeded product")
        .to_owned()
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// One authenticated REST call per service (users, wallet, transfers,
/// cart, orders, payments, shipments, notifications, queues, topics,
/// operations), each a request that succeeds or fails for its own reasons
/// with a live token.
fn rest_routes(sku: &str, other_email: &str) -> Vec<(Method, String, Option<Value>)> {
    let nobody = uuid::Uuid::now_v7();
    let card = json!({"number": "4242424242424242", "expiry": "12/39", "cvv": "123"});
    vec![
        (Method::GET, "/users/me".into(), None),
        (
            Method::PATCH,
            "/users/me".into(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::GET, "/wallet".into(), None),
        (
            Method::POST,
            "/wallet/deposit".into(),
            Some(json!({"amount_cents": 100})),
        ),
        (
            Method::POST,
            "/transfers".into(),
            Some(json!({"to_email": other_email, "amount_cents": 1})),
        ),
        (Method::GET, "/transfers".into(), None),
        (Method::GET, "/cart".into(), None),
        (
            Method::POST,
            "/cart/items".into(),
            Some(json!({"sku": sku, "quantity": 1})),
        ),
        (
            Method::POST,
            "/orders".into(),
            Some(json!({
                "items": [{"sku": sku, "quantity": 1}],
                "payment": {"method": "card", "card": card},
                "shipping_address": {"name": "Ann", "line1": "1 Main St", "city": "X", "postal_code": "1", "country": "US"}
            })),
        ),
        (Method::GET, "/orders".into(), None),
        (Method::POST, "/payments/validate".into(), Some(card)),
        (Method::GET, format!("/payments/{nobody}"), None),
        (Method::GET, format!("/shipments/{nobody}"), None),
        (Method::GET, "/notifications".into(), None),
        (
            Method::POST,
            "/queues".into(),
            Some(json!({"name": unique("q")})),
        ),
        (Method::GET, "/queues".into(), None),
        (
            Method::POST,
            "/topics".into(),
            Some(json!({"name": unique("t")})),
        ),
        (Method::GET, format!("/operations/{nobody}"), None),
    ]
}

async fn rest_statuses(
    node: &Node,
    token: &str,
    routes: &[(Method, String, Option<Value>)],
) -> Vec<(String, StatusCode, Value)> {
    let mut out = Vec::new();
    for (m, path, body) in routes {
        let (s, v, _) = node
            .call(m.clone(), path, Some(token), body.clone(), &[])
            .await;
        out.push((format!("{m} {path}"), s, v));
    }
    out
}

fn assert_all_401(what: &str, got: &[(String, StatusCode, Value)]) {
    for (route, s, v) in got {
        assert_eq!(*s, StatusCode::UNAUTHORIZED, "{what}: {route} answered {v}");
        assert_eq!(v["type"], "/problems/unauthorized", "{route}: {v}");
    }
}

fn assert_none_401(what: &str, got: &[(String, StatusCode, Value)]) {
    for (route, s, v) in got {
        assert_ne!(*s, StatusCode::UNAUTHORIZED, "{what}: {route} answered {v}");
    }
}

/// The code a gRPC call answers (`Ok` for success).
macro_rules! code {
    ($call:expr) => {
        $call.await.err().map_or(Code::Ok, |s| s.code())
    };
}

/// One authenticated gRPC call per service; the codes they answer.
async fn grpc_codes(
    ch: &Channel,
    token: &str,
    sku: &str,
    other_email: &str,
) -> Vec<(&'static str, Code)> {
    let nobody = uuid::Uuid::now_v7().to_string();
    let mut users = UsersClient::new(ch.clone());
    let mut wallets = WalletsClient::new(ch.clone());
    let mut cart = CartClient::new(ch.clone());
    let mut orders = OrdersClient::new(ch.clone());
    let mut payments = PaymentsClient::new(ch.clone());
    let mut shipping = ShippingClient::new(ch.clone());
    let mut notifications = NotificationsClient::new(ch.clone());
    let mut queues = QueuesClient::new(ch.clone());
    let mut operations = OperationsClient::new(ch.clone());
    let card = ValidateCardRequest {
        number: "4242424242424242".into(),
        expiry: "12/39".into(),
        cvv: "123".into(),
    };
    let order = PlaceOrderRequest {
        items: vec![Item {
            sku: sku.into(),
            quantity: 1,
        }],
        payment: Some(Payment {
            method: "card".into(),
            card: Some(mailroom::grpc::pb::orders::Card {
                number: card.number.clone(),
                expiry: card.expiry.clone(),
                cvv: card.cvv.clone(),
            }),
        }),
        shipping_address: Some(Address {
            name: "Ann".into(),
            line1: "1 Main".into(),
            line2: None,
            city: "X".into(),
            postal_code: "1".into(),
            country: "US".into(),
        }),
    };
    let rename = UpdateMeRequest {
        name: Some("Renamed".into()),
        password: None,
    };
    let transfer = TransferRequest {
        to: Some(To::ToEmail(other_email.into())),
        amount_cents: 1,
        note: None,
    };
    let add = AddItemRequest {
        sku: sku.into(),
        quantity: 1,
    };
    let publish = PublishRequest {
        queue: unique("nowhere"),
        body: "hello".into(),
        ..Default::default()
    };
    let create_queue = CreateQueueRequest {
        name: unique("gq"),
        ..Default::default()
    };
    let order_id = || nobody.clone();
    vec![
        (
            "Users/GetMe",
            code!(users.get_me(authed(GetMeRequest {}, token))),
        ),
        (
            "Users/UpdateMe",
            code!(users.update_me(authed(rename, token))),
        ),
        (
            "Wallets/GetWallet",
            code!(wallets.get_wallet(authed(GetWalletRequest {}, token))),
        ),
        (
            "Wallets/Deposit",
            code!(wallets.deposit(authed(DepositRequest { amount_cents: 100 }, token))),
        ),
        (
            "Wallets/Transfer",
            code!(wallets.transfer(authed(transfer, token))),
        ),
        (
            "Wallets/ListTransfers",
            code!(wallets.list_transfers(authed(ListTransfersRequest::default(), token))),
        ),
        (
            "Cart/GetCart",
            code!(cart.get_cart(authed(GetCartRequest {}, token))),
        ),
        ("Cart/AddItem", code!(cart.add_item(authed(add, token)))),
        (
            "Orders/PlaceOrder",
            code!(orders.place_order(authed(order, token))),
        ),
        (
            "Orders/ListOrders",
            code!(orders.list_orders(authed(ListOrdersRequest::default(), token))),
        ),
        (
            "Payments/ValidateCard",
            code!(payments.validate_card(authed(card, token))),
        ),
        (
            "Payments/GetPayment",
            code!(payments.get_payment(authed(
                GetPaymentRequest {
                    order_id: order_id()
                },
                token
            ))),
        ),
        (
            "Shipping/GetShipment",
            code!(shipping.get_shipment(authed(
                GetShipmentRequest {
                    order_id: order_id()
                },
                token
            ))),
        ),
        (
            "Notifications/ListNotifications",
            code!(notifications
                .list_notifications(authed(ListNotificationsRequest::default(), token))),
        ),
        (
            "Queues/CreateQueue",
            code!(queues.create_queue(authed(create_queue, token))),
        ),
        (
            "Queues/ListQueues",
            code!(queues.list_queues(authed(ListQueuesRequest::default(), token))),
        ),
        (
            "Queues/Publish",
            code!(queues.publish(authed(publish, token))),
        ),
        (
            "Queues/CreateTopic",
            code!(queues.create_topic(authed(CreateTopicRequest { name: unique("gt") }, token))),
        ),
        (
            "Operations/GetOperation",
            code!(operations.get_operation(authed(GetOperationRequest { id: order_id() }, token))),
        ),
    ]
}

#[tokio::test]
async fn a_deleted_accounts_token_is_refused_on_every_service_of_both_edges() {
    let node = Node::start().await;
    let bob_email = email("bob");
    node.register(&bob_email).await;
    let sku = some_sku(&node, &node.register(&email("reader")).await.0).await;
    let ch = channel(&node).await;
    let routes = rest_routes(&sku, &bob_email);

    // REST deletion: first every route takes the token, then none does.
    let (ann, _) = node.register(&email("ann")).await;
    assert_none_401("live token", &rest_statuses(&node, &ann, &routes).await);
    for (rpc, c) in grpc_codes(&ch, &ann, &sku, &bob_email).await {
        assert_ne!(c, Code::Unauthenticated, "live token: {rpc}");
    }
    let (s, v, _) = node
        .call(Method::DELETE, "/users/me", Some(&ann), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_all_401(
        "deleted over REST",
        &rest_statuses(&node, &ann, &routes).await,
    );
    for (rpc, c) in grpc_codes(&ch, &ann, &sku, &bob_email).await {
        assert_eq!(c, Code::Unauthenticated, "deleted over REST: {rpc}");
    }

    // gRPC deletion, and the token read back over both edges; a
    // Subscribe stream opened before ends too.
    let (cy, _) = node.register(&email("cy")).await;
    let queue = unique("cyq");
    let (s, v) = node
        .post("/queues", Some(&cy), json!({ "name": queue }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mut stream = QueuesClient::new(ch.clone())
        .subscribe(authed(
            SubscribeRequest {
                queue: queue.clone(),
                max: 1,
                visibility_timeout_s: None,
            },
            &cy,
        ))
        .await
        .expect("Subscribe")
        .into_inner();
    for (rpc, c) in grpc_codes(&ch, &cy, &sku, &bob_email).await {
        assert_ne!(c, Code::Unauthenticated, "live token: {rpc}");
    }
    UsersClient::new(ch.clone())
        .delete_me(authed(DeleteMeRequest {}, &cy))
        .await
        .expect("DeleteMe");
    for (rpc, c) in grpc_codes(&ch, &cy, &sku, &bob_email).await {
        assert_eq!(c, Code::Unauthenticated, "deleted over gRPC: {rpc}");
    }
    assert_all_401(
        "deleted over gRPC",
        &rest_statuses(&node, &cy, &routes).await,
    );
    // The admin (who may act on any queue) wakes the stream's long poll.
    let admin = node.admin_token().await;
    let (s, v) = node
        .post(
            &format!("/queues/{queue}/messages"),
            Some(&admin),
            json!({"body": "after the deletion"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    match tokio::time::timeout(Duration::from_secs(15), stream.message())
        .await
        .expect("the stream answers within 15 s")
    {
        Err(s) => assert_eq!(s.code(), Code::Unauthenticated, "{s:?}"),
        Ok(Some(m)) => panic!("a deleted account's stream was handed {m:?}"),
        Ok(None) => panic!("the stream ended without a status"),
    }
}

#[tokio::test]
async fn a_password_change_revokes_older_tokens_on_both_edges() {
    let node = Node::start().await;
    let ch = channel(&node).await;
    let mut users = UsersClient::new(ch.clone());

    // Over REST: two sessions before the change, both die; one after, lives.
    let ann = email("ann");
    let (first, _) = node.register(&ann).await;
    let (s, v) = node.login(&ann, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let second = v["token"].as_str().unwrap().to_owned();
    assert_eq!(node.get("/users/me", &second).await.0, StatusCode::OK);
    let (s, v, _) = node
        .call(
            Method::PATCH,
            "/users/me",
            Some(&first),
            Some(json!({"password": "a brand new password"})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for old in [&first, &second] {
        let (s, v) = node.get("/users/me", old).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("revoked"), "{v}");
        let err = users
            .get_me(authed(GetMeRequest {}, old))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    }
    let (s, v) = node.login(&ann, "a brand new password").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let fresh = v["token"].as_str().unwrap().to_owned();
    assert_eq!(node.get("/users/me", &fresh).await.0, StatusCode::OK);
    assert_eq!(node.get("/wallet", &fresh).await.0, StatusCode::OK);
    users
        .get_me(authed(GetMeRequest {}, &fresh))
        .await
        .expect("the new token works over gRPC");
    // A name change is not a credential change: the token lives on.
    let (s, _, _) = node
        .call(
            Method::PATCH,
            "/users/me",
            Some(&fresh),
            Some(json!({"name": "Ann B"})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(node.get("/users/me", &fresh).await.0, StatusCode::OK);

    // Over gRPC.
    let bob = email("bob");
    let (old, _) = node.register(&bob).await;
    users
        .update_me(authed(
            UpdateMeRequest {
                name: None,
                password: Some("another new password".into()),
            },
            &old,
        ))
        .await
        .expect("UpdateMe");
    let err = users
        .get_me(authed(GetMeRequest {}, &old))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(
        node.get("/users/me", &old).await.0,
        StatusCode::UNAUTHORIZED
    );
    let new = users
        .login(LoginRequest {
            email: bob.clone(),
            password: "another new password".into(),
        })
        .await
        .expect("login with the new password")
        .into_inner()
        .token;
    let me = users
        .get_me(authed(GetMeRequest {}, &new))
        .await
        .expect("the new token works")
        .into_inner();
    assert_eq!(me.email, bob);
    assert_eq!(node.get("/users/me", &new).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_on_either_edge() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let (s, v, _) = node
        .call(Method::DELETE, "/users/me", Some(&admin), None, &[])
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("last admin"), "{v}");
    let err = UsersClient::new(channel(&node).await)
        .delete_me(authed(DeleteMeRequest {}, &admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    // Still there, still the admin.
    let (s, me) = node.get("/users/me", &admin).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "admin");
    assert_eq!(node.get("/admin/actors", &admin).await.0, StatusCode::OK);
    // So its email cannot be freed and registered by someone else.
    let (s, v) = node
        .post(
            "/auth/register",
            None,
            json!({"email": ADMIN_EMAIL, "password": PASSWORD, "name": "Mallory"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
}

#[tokio::test]
async fn an_admin_email_held_by_a_customer_stops_the_node_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mallory = email("mallory");
    let mut node = Node::start_on(tmp.path()).await;
    node.register(&mallory).await;
    node.kill9();

    // Restarted with the customer's email as the admin's: it must not start.
    let mut child = Node::command(tmp.path(), &["--admin-email", &mallory])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("the node is still running after 60 s with a customer's email as admin");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "exit status {status}");
    let log = std::fs::read_to_string(tmp.path().join("node.log")).unwrap();
    assert!(
        log.contains(&format!(
            "the admin email {mallory} belongs to an existing customer account, not an admin"
        )),
        "{log}"
    );

    // With the right admin email it starts again, and the customer is intact.
    let node = Node::start_on(tmp.path()).await;
    assert_eq!(node.login(&mallory, PASSWORD).await.0, StatusCode::OK);
    assert_eq!(
        node.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0,
        StatusCode::OK
    );
}

/// `n` concurrent gRPC logins of the admin with a wrong password.
fn wrong_grpc_logins(
    ch: &Channel,
    n: usize,
) -> Vec<
    tokio::task::JoinHandle<
        Result<tonic::Response<mailroom::grpc::pb::users::LoginResponse>, tonic::Status>,
    >,
> {
    (0..n)
        .map(|_| {
            let mut users = UsersClient::new(ch.clone());
            tokio::spawn(async move {
                users
                    .login(LoginRequest {
                        email: ADMIN_EMAIL.into(),
                        password: "not the password".into(),
                    })
                    .await
            })
        })
        .collect()
}

#[tokio::test]
async fn a_grpc_login_flood_is_limited_with_the_same_budget_as_rest() {
    // 3 at once, then 1 a second, per address, for both edges together.
    let node = Node::start_with(&["--auth-rate-per-s", "1", "--auth-burst", "3"]).await;
    let ch = channel(&node).await;
    let flood = wrong_grpc_logins(&ch, 24);
    let mut exhausted = Vec::new();
    let mut checked = 0;
    for t in flood {
        let err = t
            .await
            .unwrap()
            .expect_err("a wrong password never logs in");
        match err.code() {
            Code::Unauthenticated => checked += 1,
            Code::ResourceExhausted => exhausted.push(err),
            other => panic!("unexpected {other:?}: {err:?}"),
        }
    }
    assert!(checked >= 1, "some attempts reached the password check");
    assert!(
        exhausted.len() >= 18,
        "only {} of 24 were limited ({checked} checked)",
        exhausted.len()
    );
    let hint: u64 = exhausted[0]
        .metadata()
        .get("retry-after")
        .expect("a retry-after hint")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&hint), "retry-after: {hint}");
    assert!(
        exhausted[0].message().contains("retry in"),
        "{:?}",
        exhausted[0]
    );

    // REST shares the budget: right after the gRPC flood it answers 429.
    let (s, v, h) = node
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["type"], "/problems/rate_limited");
    assert!(h.contains_key("retry-after"), "{h:?}");

    // Register over gRPC takes from the same budget.
    let err = UsersClient::new(ch.clone())
        .register(mailroom::grpc::pb::users::RegisterRequest {
            email: email("eve"),
            password: PASSWORD.into(),
            name: "Eve".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    // After the hint, the right password works again over gRPC.
    tokio::time::sleep(Duration::from_secs(hint + 1)).await;
    let token = UsersClient::new(ch.clone())
        .login(Request::new(LoginRequest {
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
        }))
        .await
        .expect("login after the wait")
        .into_inner()
        .token;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn beyond_the_hashing_bound_logins_are_told_to_retry_on_both_edges() {
    // One hash at a time, one waiting; the per-address budget out of the way.
    let node = Node::start_with(&[
        "--auth-rate-per-s",
        "100000",
        "--auth-burst",
        "100000",
        "--auth-hash-concurrency",
        "1",
        "--auth-hash-queue",
        "1",
    ])
    .await;
    let ch = channel(&node).await;
    let grpc = wrong_grpc_logins(&ch, 16);
    let rest: Vec<_> = (0..16)
        .map(|_| {
            let (client, url) = (node.client.clone(), node.url("/auth/login"));
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({"email": ADMIN_EMAIL, "password": "not the password"}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.headers().get("retry-after").cloned())
            })
        })
        .collect();
    let mut busy_grpc = 0;
    for t in grpc {
        let err = t
            .await
            .unwrap()
            .expect_err("a wrong password never logs in");
        match err.code() {
            Code::Unauthenticated => {}
            Code::ResourceExhausted => {
                assert!(err.message().contains("password checks"), "{err:?}");
                assert_eq!(err.metadata().get("retry-after").unwrap(), "1");
                busy_grpc += 1;
            }
            other => panic!("unexpected {other:?}: {err:?}"),
        }
    }
    let mut busy_rest = 0;
    for t in rest {
        let (s, retry_after) = t.await.unwrap();
        match s {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(retry_after.unwrap(), "1");
                busy_rest += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy_grpc + busy_rest >= 8,
        "{busy_grpc} + {busy_rest} busy of 32"
    );
    // The node is fine afterwards.
    assert_eq!(
        node.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0,
        StatusCode::OK
    );
}
