//! Service actors. A service is its commands (typed messages with replies),
//! its logic and its store; [`runtime::ServiceActor`] gives every service the
//! same supervision, inbox dedupe, batching and fault injection.
//!
//! A service never calls another service: it returns [`Effects`] — its reply,
//! the events it publishes, the commands it sends — and the MOM persists
//! them in the same journal transaction that marks the input done.
pub mod analytics;
pub mod cart;
pub mod catalog;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod queues;
pub mod runtime;
pub mod shipping;
pub mod users;
pub mod wallets;

pub mod service;
pub mod testkit;

use std::path::Path;

pub use service::{Cx, Done, Effects, Failure, Handled, Incoming, Service};

use crate::{
    mom::{Destination, Mom},
    store,
};

/// Starts every service actor under its supervisor, each on its own arbiter
/// thread with its own database in `data`.
pub fn start_all(mom: &Mom, data: &Path) -> anyhow::Result<()> {
    runtime::start(
        mom,
        users::Users,
        store::open(&data.join("users.db"), store::migrations::USERS, 4)?,
    );
    runtime::start(
        mom,
        wallets::Wallets,
        store::open(&data.join("wallets.db"), store::migrations::WALLETS, 4)?,
    );
    runtime::start(
        mom,
        notifications::Notifications,
        store::open(
            &data.join("notifications.db"),
            store::migrations::NOTIFICATIONS,
            4,
        )?,
    );
    runtime::start(
        mom,
        catalog::Catalog,
        store::open(&data.join("catalog.db"), store::migrations::CATALOG, 4)?,
    );
    runtime::start(
        mom,
        inventory::Inventory,
        store::open(&data.join("inventory.db"), store::migrations::INVENTORY, 4)?,
    );
    runtime::start(
        mom,
        cart::Cart,
        store::open(&data.join("cart.db"), store::migrations::CART, 4)?,
    );
    runtime::start(
        mom,
        orders::Orders,
        store::open(&data.join("orders.db"), store::migrations::ORDERS, 4)?,
    );
    runtime::start(
        mom,
        payments::Payments,
        store::open(&data.join("payments.db"), store::migrations::PAYMENTS, 4)?,
    );
    runtime::start(
        mom,
        shipping::Shipping,
        store::open(&data.join("shipping.db"), store::migrations::SHIPPING, 4)?,
    );
    runtime::start(
        mom,
        analytics::Analytics,
        store::open(&data.join("analytics.db"), store::migrations::ANALYTICS, 4)?,
    );
    runtime::start(
        mom,
        queues::Queues,
        store::open(&data.join("queues.db"), store::migrations::QUEUES, 4)?,
    );
    Ok(())
}

/// Every actor the node runs, the MOM first.
pub const ACTORS: &[&str] = &[
    crate::mom::MOM_ACTOR,
    users::Users::NAME,
    wallets::Wallets::NAME,
    notifications::Notifications::NAME,
    catalog::Catalog::NAME,
    inventory::Inventory::NAME,
    cart::Cart::NAME,
    orders::Orders::NAME,
    payments::Payments::NAME,
    shipping::Shipping::NAME,
    analytics::Analytics::NAME,
    queues::Queues::NAME,
];
