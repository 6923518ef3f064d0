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
pub mod control;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod queues;
pub mod runtime;
pub mod shipping;
pub mod supervision;
pub mod users;
pub mod wallets;

use std::path::Path;

use diesel::SqliteConnection;
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use crate::{
    mom::{
        envelope::{Dispatch, Publish},
        Event, Mom, Outcome,
    },
    problem::Problem,
    store,
};

/// One message as a service sees it.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The envelope id: derive ids of what this message creates from it, so
    /// a replay can never create a second one.
    pub id: Uuid,
    pub kind: &'a str,
    pub payload: &'a str,
    /// When the envelope was first written (ms).
    pub created_at: i64,
}

impl Incoming<'_> {
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(self.payload).map_err(|e| {
            Failure::Rejected(Problem::bad_request(format!(
                "malformed `{}` message: {e}",
                self.kind
            )))
        })
    }
}

/// What handling a message produced.
#[derive(Debug, Default)]
pub struct Effects {
    pub reply: serde_json::Value,
    pub publish: Vec<Publish>,
    pub send: Vec<Dispatch>,
}

impl Effects {
    pub fn reply<T: Serialize>(value: &T) -> Result<Self, Failure> {
        Ok(Self {
            reply: serde_json::to_value(value).map_err(|e| Failure::Transient(e.to_string()))?,
            ..Self::default()
        })
    }

    pub fn publish<E: Event>(mut self, event: &E) -> Self {
        self.publish.push(Publish {
            topic: E::TOPIC.into(),
            payload: serde_json::to_string(event).expect("events serialize"),
        });
        self
    }

    /// Sends a command to another service (a saga step or its reply). It
    /// is journaled with this message's completion, exactly once.
    pub fn send<C: crate::mom::Command>(mut self, cmd: &C) -> Self {
        self.send.push(Dispatch {
            destination: C::DESTINATION.into(),
            kind: C::KIND.into(),
            payload: serde_json::to_string(cmd).expect("commands serialize"),
        });
        self
    }

    pub fn into_outcome(self) -> Outcome {
        Outcome {
            reply: Ok(self.reply),
            publish: self.publish,
            send: self.send,
        }
    }
}

/// Why a message was not applied.
#[derive(Debug)]
pub enum Failure {
    /// A business answer ("insufficient funds"): recorded, never retried.
    Rejected(Problem),
    /// Infrastructure (store busy, I/O): retried, dead-lettered eventually.
    Transient(String),
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Failure::Rejected(p)
    }
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Transient(e.to_string())
    }
}

/// A service: its name, its subscriptions and its message handler.
pub trait Service: Unpin + 'static {
    const NAME: &'static str;
    /// Event topic patterns this service consumes.
    const SUBSCRIPTIONS: &'static [&'static str] = &[];

    /// Applies one message inside the runtime's transaction. Commands and
    /// events may change state; queries must not (their transaction is
    /// rolled back).
    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure>;
}

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
