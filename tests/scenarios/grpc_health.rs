//! `grpc.health.v1.Health` follows the actors: a service whose actor is
//! killed answers NOT_SERVING (Check and Watch) until the actor is back,
//! the overall `""` follows readiness, and the other services stay SERVING.
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

use crate::support::{channel, Node};

type Health = HealthClient<tonic::transport::Channel>;

async fn check(health: &mut Health, service: &str) -> ServingStatus {
    health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("Check({service:?}): {e}"))
        .into_inner()
        .status()
}

/// Polls Check until `service` reports `want`; returns how long it took.
async fn until_status(
    health: &mut Health,
    service: &str,
    want: ServingStatus,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let got = check(health, service).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{service:?} still {got:?} after {within:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next status a Watch stream sends, within 10 s.
async fn next(
    watch: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
) -> ServingStatus {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("Watch sent nothing within 10 s")
        .expect("Watch stream failed")
        .expect("Watch stream ended")
        .status()
}

async fn kill(node: &Node, admin: &str, actor: &str, down_ms: u64) {
    let (s, v) = node
        .fault(
            admin,
            json!({"actor": actor, "action": "kill", "down_ms": down_ms}),
        )
        .await;
    assert!(s.is_success(), "kill {actor}: {s} {v}");
}

#[tokio::test]
async fn health_is_not_serving_while_wallets_is_down_and_serving_after_restart() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let mut health = HealthClient::new(channel(&node).await);
    const WALLETS: &str = "mailroom.wallets.v1.Wallets";
    for s in ["", WALLETS, "mailroom.users.v1.Users"] {
        assert_eq!(check(&mut health, s).await, ServingStatus::Serving, "{s:?}");
    }
    let mut watch = health
        .watch(HealthCheckRequest {
            service: WALLETS.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);

    kill(&node, &admin, "wallets", 3_000).await;
    until_status(
        &mut health,
        WALLETS,
        ServingStatus::NotServing,
        Duration::from_secs(2),
    )
    .await;
    // Readiness agrees, and the overall service follows it.
    let res = node
        .client
        .get(format!("{}/readyz", node.http))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(check(&mut health, "").await, ServingStatus::NotServing);
    assert_eq!(
        check(&mut health, "mailroom.users.v1.Users").await,
        ServingStatus::Serving,
        "a service whose actors run is unaffected"
    );
    assert_eq!(next(&mut watch).await, ServingStatus::NotServing);

    until_status(
        &mut health,
        WALLETS,
        ServingStatus::Serving,
        Duration::from_secs(15),
    )
    .await;
    until_status(
        &mut health,
        "",
        ServingStatus::Serving,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
}

#[tokio::test]
async fn every_service_follows_its_own_actor() {
    let node = Node::start().await;
    let admin = node.admin_token().await;
    let mut health = HealthClient::new(channel(&node).await);
    let services = [
        ("mailroom.users.v1.Users", "users"),
        ("mailroom.wallets.v1.Wallets", "wallets"),
        ("mailroom.notifications.v1.Notifications", "notifications"),
        ("mailroom.catalog.v1.Catalog", "catalog"),
        ("mailroom.inventory.v1.Inventory", "inventory"),
        ("mailroom.cart.v1.Cart", "cart"),
        ("mailroom.orders.v1.Orders", "orders"),
        ("mailroom.payments.v1.Payments", "payments"),
        ("mailroom.shipping.v1.Shipping", "shipping"),
        ("mailroom.analytics.v1.Analytics", "analytics"),
        ("mailroom.mom.v1.Queues", "queues"),
    ];
    for (i, (service, actor)) in services.iter().enumerate() {
        // A neighbour that must stay up while this one is down.
        let (other, _) = services[(i + 1) % services.len()];
        until_status(
            &mut health,
            service,
            ServingStatus::Serving,
            Duration::from_secs(10),
        )
        .await;
        kill(&node, &admin, actor, 1_500).await;
        until_status(
            &mut health,
            service,
            ServingStatus::NotServing,
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(
            check(&mut health, other).await,
            ServingStatus::Serving,
            "{other} while {actor} is down"
        );
        until_status(
            &mut health,
            service,
            ServingStatus::Serving,
            Duration::from_secs(10),
        )
        .await;
    }
}
