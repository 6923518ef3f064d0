//! `grpc.health.v1.Health` that follows the actors: a service is SERVING
//! while every actor it needs is running, NOT_SERVING while one is down or
//! restarting; the overall service `""` is SERVING only when every actor
//! is running, as `/readyz`.
//!
//! Actor state lives in the registry's atomics (no change notification),
//! so a task samples it every [`EVERY`] and tells the reporter only what
//! changed, so that `Watch` streams see each transition once.
use std::{sync::Arc, time::Duration};

use tonic_health::{server::HealthReporter, ServingStatus};

use super::pb;
use crate::mom::{registry::Registry, supervision::ActorState, MOM_ACTOR};

/// How often actor states are sampled.
pub const EVERY: Duration = Duration::from_millis(100);

/// Each gRPC service and the actors it needs: the MOM carries every
/// request, then the service's own actor. Sagas are not included: an order
/// placed while `payments` is down is accepted and finishes later, so
/// `Orders` stays SERVING.
pub const SERVICES: &[(&str, &[&str])] = &[
    (pb::users::users_server::SERVICE_NAME, &[MOM_ACTOR, "users"]),
    (
        pb::wallets::wallets_server::SERVICE_NAME,
        &[MOM_ACTOR, "wallets"],
    ),
    (
        pb::notifications::notifications_server::SERVICE_NAME,
        &[MOM_ACTOR, "notifications"],
    ),
    (pb::admin::admin_server::SERVICE_NAME, &[MOM_ACTOR]),
    (
        pb::operations::operations_server::SERVICE_NAME,
        &[MOM_ACTOR],
    ),
    (
        pb::catalog::catalog_server::SERVICE_NAME,
        &[MOM_ACTOR, "catalog"],
    ),
    (
        pb::inventory::inventory_server::SERVICE_NAME,
        &[MOM_ACTOR, "inventory"],
    ),
    (pb::cart::cart_server::SERVICE_NAME, &[MOM_ACTOR, "cart"]),
    (
        pb::orders::orders_server::SERVICE_NAME,
        &[MOM_ACTOR, "orders"],
    ),
    (
        pb::payments::payments_server::SERVICE_NAME,
        &[MOM_ACTOR, "payments"],
    ),
    (
        pb::shipping::shipping_server::SERVICE_NAME,
        &[MOM_ACTOR, "shipping"],
    ),
    (
        pb::analytics::analytics_server::SERVICE_NAME,
        &[MOM_ACTOR, "analytics"],
    ),
    (pb::mom::queues_server::SERVICE_NAME, &[MOM_ACTOR, "queues"]),
];

/// The status of every service now (`""` first).
fn sample(registry: &Registry) -> Vec<(&'static str, ServingStatus)> {
    let running = |name: &str| {
        registry
            .get(name)
            .is_some_and(|s| s.stats.state() == ActorState::Running)
    };
    let of = |up: bool| {
        if up {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    let all_up = registry
        .all()
        .iter()
        .all(|s| s.stats.state() == ActorState::Running);
    std::iter::once(("", of(all_up)))
        .chain(
            SERVICES
                .iter()
                .map(|(service, actors)| (*service, of(actors.iter().all(|a| running(a))))),
        )
        .collect()
}

/// Sets every status once, then keeps them following the actors for the
/// life of the runtime.
pub async fn follow(reporter: HealthReporter, registry: Arc<Registry>) {
    let mut last = sample(&registry);
    for (service, status) in &last {
        reporter.set_service_status(service, *status).await;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = sample(&registry);
            for ((service, status), (_, before)) in now.iter().zip(&last) {
                if status != before {
                    tracing::info!(service, status = ?status, "gRPC health changed");
                    reporter.set_service_status(service, *status).await;
                }
            }
            last = now;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_needs_the_mom_and_names_known_actors() {
        for (service, actors) in SERVICES {
            assert_eq!(actors.first(), Some(&MOM_ACTOR), "{service}");
            for a in *actors {
                assert!(crate::actors::ACTORS.contains(a), "{service}: {a}");
            }
        }
    }

    #[test]
    fn every_service_in_the_schema_follows_its_actors() {
        use prost::Message as _;
        let fds = prost_types::FileDescriptorSet::decode(pb::DESCRIPTOR).unwrap();
        let names: Vec<String> = fds
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(move |s| format!("{}.{}", f.package(), s.name()))
            })
            .collect();
        assert!(!names.is_empty());
        for n in &names {
            assert!(
                SERVICES.iter().any(|(s, _)| s == n),
                "{n} has no health entry"
            );
        }
        assert_eq!(names.len(), SERVICES.len());
    }
}
