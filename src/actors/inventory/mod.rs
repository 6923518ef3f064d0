//! `inventory`: stock per sku (on_hand, reserved, sold). Reserve / release /
//! commit / restock are the order saga's internal commands, idempotent per
//! order. Never negative; conserved: on_hand + sold = initial + restocked.
//! Publishes `inventory.reserved|released|low_stock`.
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Effects, Failure, Incoming, Service};
use crate::{
    mom::{Command, Event, Query},
    problem::{Page, Paged, Problem},
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StockView {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// on_hand - reserved
    pub available: i64,
    pub reorder_point: i64,
    /// Units committed to confirmed orders so far.
    pub sold: i64,
}

/// A quantity of one sku.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Line {
    pub sku: String,
    pub quantity: i64,
}

// ---- edge messages ---------------------------------------------------------

/// Admin `PUT /inventory/{sku}`: set on_hand (a restock or a count).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetStock {
    pub sku: String,
    pub on_hand: i64,
    pub reorder_point: Option<i64>,
}
impl Command for SetStock {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "set_stock";
    type Reply = StockView;
}

/// `POST /inventory/{sku}/decrease` (seed 004): idempotent per `order_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decrease {
    pub sku: String,
    pub quantity: i64,
    pub order_id: String,
}
impl Command for Decrease {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "decrease";
    type Reply = StockView;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetStock {
    pub sku: String,
}
impl Query for GetStock {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "get_stock";
    type Reply = StockView;
}

/// Admin: skus whose available stock is at or below their reorder point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LowStock {
    pub page: Page,
}
impl Query for LowStock {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "low_stock";
    type Reply = Paged<StockView>;
}

// ---- saga messages (from `orders`; replies go back to `orders`) ------------

/// All-or-nothing reservation for an order. Replies
/// `orders::StockReserved` or `orders::StockUnavailable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reserve {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}
impl Command for Reserve {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "reserve";
    type Reply = ();
}

/// Gives an order's reservation back (payment failed / cancelled before
/// commit). No reply needed; a no-op if nothing is reserved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub order_id: Uuid,
}
impl Command for Release {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "release";
    type Reply = ();
}

/// Turns an order's reservation into a sale (on_hand -= q, reserved -= q,
/// sold += q). No reply needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub order_id: Uuid,
}
impl Command for Commit {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "commit";
    type Reply = ();
}

/// Puts a committed order's units back on hand (a cancelled confirmed
/// order): on_hand += q, sold -= q. No reply needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restock {
    pub order_id: Uuid,
}
impl Command for Restock {
    const DESTINATION: &'static str = Inventory::NAME;
    const KIND: &'static str = "restock";
    type Reply = ();
}

// ---- events ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockReservedEvent {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}
impl Event for StockReservedEvent {
    const TOPIC: &'static str = "inventory.reserved";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockReleasedEvent {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}
impl Event for StockReleasedEvent {
    const TOPIC: &'static str = "inventory.released";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LowStockEvent {
    pub sku: String,
    pub available: i64,
    pub reorder_point: i64,
}
impl Event for LowStockEvent {
    const TOPIC: &'static str = "inventory.low_stock";
}

#[derive(Debug, Default)]
pub struct Inventory;

impl Service for Inventory {
    const NAME: &'static str = "inventory";

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("inventory does not handle `{}`", msg.kind)).into())
    }
}
