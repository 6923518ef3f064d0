//! `inventory`: stock per sku (on_hand, reserved, sold) in `inventory.db`.
//!
//! Reserve / release / commit / restock are the order saga's internal
//! commands. Each moves the order's rows in `reservations` (keyed by order
//! and sku) through `reserved → released | committed → restocked` at most
//! once, so a saga command delivered twice — even as two envelopes — applies
//! once; a repeated `Reserve` answers what the first one answered.
//!
//! Never negative (CHECK constraints back the rules below); conserved:
//! `on_hand + sold = initial + what admins set`. Stock rows are created by
//! `catalog.product.created` (or an admin's `PUT`) and kept when a product
//! is deleted: in-flight orders may still hold reservations on them.
//!
//! Publishes `inventory.reserved|released|committed|restocked|adjusted` and
//! `inventory.low_stock` (once each time a sku's available stock falls to
//! its reorder point).
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::collections::BTreeMap;

use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    catalog::ProductCreated,
    orders::{StockReserved, StockUnavailable},
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::{Page, Paged, Problem},
};

pub use store::{InventoryStore, ReservationState, StockRow};

/// Reorder point of a row nobody set one for.
pub const DEFAULT_REORDER_POINT: i64 = 5;
/// Largest on_hand (and reorder point) an admin may set.
pub const MAX_ON_HAND: i64 = 1_000_000_000;
/// Largest single `decrease`.
pub const MAX_DECREASE: i64 = 10_000;
pub const MAX_SKU: usize = 64;
pub const MAX_ORDER_REF: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("sku must be 1 to {MAX_SKU} characters without spaces or control characters")]
    InvalidSku,
    #[error("on_hand must be between 0 and {MAX_ON_HAND}")]
    InvalidOnHand,
    #[error("reorder_point must be between 0 and {MAX_ON_HAND}")]
    InvalidReorderPoint,
    #[error("quantity must be between 1 and {MAX_DECREASE}")]
    InvalidQuantity,
    #[error("order_id must be 1 to {MAX_ORDER_REF} visible ASCII characters")]
    InvalidOrderRef,
    #[error("no stock is kept for sku `{0}`")]
    UnknownSku(String),
    #[error("on_hand of `{sku}` cannot go below the {reserved} reserved units (asked {on_hand})")]
    BelowReserved {
        sku: String,
        on_hand: i64,
        reserved: i64,
    },
    #[error("not enough `{sku}`: {available} available, {requested} requested")]
    Insufficient {
        sku: String,
        available: i64,
        requested: i64,
    },
    #[error("order `{order_id}` already decreased `{sku}` by {quantity}, not {requested}")]
    DecreaseMismatch {
        order_id: String,
        sku: String,
        quantity: i64,
        requested: i64,
    },
}

impl From<InventoryError> for Problem {
    fn from(e: InventoryError) -> Self {
        use InventoryError::*;
        match e {
            InvalidSku | InvalidOnHand | InvalidReorderPoint | InvalidQuantity
            | InvalidOrderRef => Problem::invalid(e.to_string()),
            UnknownSku(_) => Problem::not_found(e.to_string()),
            BelowReserved { .. } | Insufficient { .. } | DecreaseMismatch { .. } => {
                Problem::conflict(e.to_string())
            }
        }
    }
}

impl From<InventoryError> for Failure {
    fn from(e: InventoryError) -> Self {
        Failure::Rejected(e.into())
    }
}

/// A sku an admin may create: printable, no whitespace, not too long.
pub fn check_sku(sku: &str) -> Result<(), InventoryError> {
    let n = sku.chars().count();
    if (1..=MAX_SKU).contains(&n) && !sku.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(())
    } else {
        Err(InventoryError::InvalidSku)
    }
}

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

/// Admin `PUT /inventory/{sku}`: set on_hand (a restock or a count). Creates
/// the row when the sku has none: an admin counting a new sku is the one
/// way to stock it without the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetStock {
    pub sku: String,
    pub on_hand: i64,
    pub reorder_point: Option<i64>,
}
impl crate::mom::Message for SetStock {
    type To = Inventory;
    const KIND: &'static str = "set_stock";
    type Reply = StockView;
    fn validate(&self) -> Result<(), Problem> {
        check_sku(&self.sku)?;
        if !(0..=MAX_ON_HAND).contains(&self.on_hand) {
            return Err(InventoryError::InvalidOnHand.into());
        }
        if self
            .reorder_point
            .is_some_and(|r| !(0..=MAX_ON_HAND).contains(&r))
        {
            return Err(InventoryError::InvalidReorderPoint.into());
        }
        Ok(())
    }
}
impl Command for SetStock {}
impl crate::mom::Handles<SetStock> for Inventory {}

/// `POST /inventory/{sku}/decrease` (seed 004): idempotent per `order_id`.
/// Takes units out of stock outside the saga, as sold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decrease {
    pub sku: String,
    pub quantity: i64,
    pub order_id: String,
}
impl crate::mom::Message for Decrease {
    type To = Inventory;
    const KIND: &'static str = "decrease";
    type Reply = StockView;
    fn validate(&self) -> Result<(), Problem> {
        check_sku(&self.sku)?;
        if !(1..=MAX_DECREASE).contains(&self.quantity) {
            return Err(InventoryError::InvalidQuantity.into());
        }
        let ok = (1..=MAX_ORDER_REF).contains(&self.order_id.len())
            && self.order_id.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(InventoryError::InvalidOrderRef.into());
        }
        Ok(())
    }
}
impl Command for Decrease {}
impl crate::mom::Handles<Decrease> for Inventory {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetStock {
    pub sku: String,
}
impl crate::mom::Message for GetStock {
    type To = Inventory;
    const KIND: &'static str = "get_stock";
    type Reply = StockView;
}
impl Query for GetStock {}
impl crate::mom::Handles<GetStock> for Inventory {}

/// Admin: skus whose available stock is at or below their reorder point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LowStock {
    pub page: Page,
}
impl crate::mom::Message for LowStock {
    type To = Inventory;
    const KIND: &'static str = "low_stock";
    type Reply = Paged<StockView>;
}
impl Query for LowStock {}
impl crate::mom::Handles<LowStock> for Inventory {}

// ---- saga messages (from `orders`; replies go back to `orders`) ------------

/// All-or-nothing reservation for an order. Replies
/// `orders::StockReserved` or `orders::StockUnavailable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reserve {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}
impl crate::mom::Message for Reserve {
    type To = Inventory;
    const KIND: &'static str = "reserve";
    type Reply = ();
}
impl Command for Reserve {}
impl crate::mom::Handles<Reserve> for Inventory {}

/// Gives an order's reservation back (payment failed / cancelled before
/// commit). No reply needed; a no-op if nothing is reserved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub order_id: Uuid,
}
impl crate::mom::Message for Release {
    type To = Inventory;
    const KIND: &'static str = "release";
    type Reply = ();
}
impl Command for Release {}
impl crate::mom::Handles<Release> for Inventory {}

/// Turns an order's reservation into a sale (on_hand -= q, reserved -= q,
/// sold += q). No reply needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub order_id: Uuid,
}
impl crate::mom::Message for Commit {
    type To = Inventory;
    const KIND: &'static str = "commit";
    type Reply = ();
}
impl Command for Commit {}
impl crate::mom::Handles<Commit> for Inventory {}

/// Puts a committed order's units back on hand (a cancelled confirmed
/// order): on_hand += q, sold -= q. No reply needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restock {
    pub order_id: Uuid,
}
impl crate::mom::Message for Restock {
    type To = Inventory;
    const KIND: &'static str = "restock";
    type Reply = ();
}
impl Command for Restock {}
impl crate::mom::Handles<Restock> for Inventory {}

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

/// An order's reservation became a sale.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockCommittedEvent {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}
impl Event for StockCommittedEvent {
    const TOPIC: &'static str = "inventory.committed";
}

/// A cancelled confirmed order's units are back on hand.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockRestockedEvent {
    pub order_id: Uuid,
    pub lines: Vec<Line>,
}
impl Event for StockRestockedEvent {
    const TOPIC: &'static str = "inventory.restocked";
}

/// on_hand changed outside the saga: a product's initial stock
/// (`initial`), an admin's count (`set`) or a `decrease`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockAdjustedEvent {
    pub sku: String,
    /// on_hand after minus on_hand before.
    pub delta: i64,
    pub on_hand: i64,
    pub reason: String,
    /// The decrease's order reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}
impl Event for StockAdjustedEvent {
    const TOPIC: &'static str = "inventory.adjusted";
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

// ---- the actor -----------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Inventory;

/// Records the low-stock crossing on `row`; the event to publish if this
/// change is the one that crossed.
fn crossing(row: &mut StockRow) -> Option<LowStockEvent> {
    let low = row.available() <= row.reorder_point;
    let event = (low && !row.low_alerted).then(|| LowStockEvent {
        sku: row.sku.clone(),
        available: row.available(),
        reorder_point: row.reorder_point,
    });
    row.low_alerted = low;
    event
}

/// Saves `row` and appends the low-stock event its change caused, if any.
fn save(
    store: &mut InventoryStore<'_>,
    row: &mut StockRow,
    at: i64,
    lows: &mut Vec<LowStockEvent>,
) -> Result<(), Failure> {
    lows.extend(crossing(row));
    store.save(row, at)?;
    Ok(())
}

fn with_lows(mut effects: Effects, lows: &[LowStockEvent]) -> Effects {
    for e in lows {
        effects = effects.publish(e);
    }
    effects
}

/// Why `lines` cannot all be reserved now, or the merged lines (sorted by
/// sku) with their stock rows.
fn check_reservation(
    store: &mut InventoryStore<'_>,
    lines: &[Line],
) -> Result<Result<Vec<(Line, StockRow)>, String>, Failure> {
    if lines.is_empty() {
        return Ok(Err("the order has no lines".into()));
    }
    let mut merged: BTreeMap<&str, i64> = BTreeMap::new();
    for l in lines {
        if l.quantity <= 0 {
            return Ok(Err(format!(
                "quantity of `{}` must be positive, got {}",
                l.sku, l.quantity
            )));
        }
        let q = merged.entry(&l.sku).or_default();
        match q.checked_add(l.quantity) {
            Some(sum) => *q = sum,
            None => return Ok(Err(format!("quantity of `{}` is too large", l.sku))),
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for (sku, quantity) in merged {
        let Some(row) = store.get(sku)? else {
            return Ok(Err(format!(
                "`{sku}` is not stocked: 0 available, {quantity} requested"
            )));
        };
        if row.available() < quantity {
            return Ok(Err(InventoryError::Insufficient {
                sku: sku.to_owned(),
                available: row.available(),
                requested: quantity,
            }
            .to_string()));
        }
        let line = Line {
            sku: sku.to_owned(),
            quantity,
        };
        out.push((line, row));
    }
    Ok(Ok(out))
}

impl Inventory {
    fn reserve(store: &mut InventoryStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: Reserve = msg.decode()?;
        let order_id = cmd.order_id;
        if let Some(first) = store.decision(order_id)? {
            // A repeat: the first answer again, nothing reserved twice.
            return Ok(match first {
                Ok(()) => Effects::reply(&())?.send(&StockReserved { order_id }),
                Err(reason) => Effects::reply(&())?.send(&StockUnavailable { order_id, reason }),
            });
        }
        let rows = match check_reservation(store, &cmd.lines)? {
            Ok(rows) => rows,
            Err(reason) => {
                store.record_decision(order_id, Some(&reason), msg.created_at)?;
                return Ok(Effects::reply(&())?.send(&StockUnavailable { order_id, reason }));
            }
        };
        let mut lows = Vec::new();
        let mut lines = Vec::with_capacity(rows.len());
        for (line, mut row) in rows {
            row.reserved += line.quantity;
            save(store, &mut row, msg.created_at, &mut lows)?;
            store.insert_reservation(order_id, &line, msg.created_at)?;
            lines.push(line);
        }
        store.record_decision(order_id, None, msg.created_at)?;
        let effects = Effects::reply(&())?
            .send(&StockReserved { order_id })
            .publish(&StockReservedEvent { order_id, lines });
        Ok(with_lows(effects, &lows))
    }

    /// Moves the order's rows in state `from` to `to`, applying `change`
    /// to each sku's stock; the lines moved.
    fn transition(
        store: &mut InventoryStore<'_>,
        order_id: Uuid,
        from: ReservationState,
        to: ReservationState,
        at: i64,
        lows: &mut Vec<LowStockEvent>,
        change: impl Fn(&mut StockRow, i64),
    ) -> Result<Vec<Line>, Failure> {
        let mut moved = Vec::new();
        for r in store.reservations(order_id)? {
            if r.state != from {
                continue;
            }
            let mut row = store.get(&r.sku)?.ok_or_else(|| {
                Failure::Transient(format!("stock row of reserved sku `{}` is missing", r.sku))
            })?;
            change(&mut row, r.quantity);
            save(store, &mut row, at, lows)?;
            store.set_reservation_state(order_id, &r.sku, to, at)?;
            moved.push(Line {
                sku: r.sku,
                quantity: r.quantity,
            });
        }
        Ok(moved)
    }

    fn saga_step(store: &mut InventoryStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        use ReservationState::*;
        let at = msg.created_at;
        let mut lows = Vec::new();
        let effects = match msg.kind {
            Release::KIND => {
                let order_id = msg.decode::<Release>()?.order_id;
                let lines = Self::transition(
                    store,
                    order_id,
                    Reserved,
                    Released,
                    at,
                    &mut lows,
                    |s, q| {
                        s.reserved -= q;
                    },
                )?;
                let e = Effects::reply(&())?;
                if lines.is_empty() {
                    e
                } else {
                    e.publish(&StockReleasedEvent { order_id, lines })
                }
            }
            Commit::KIND => {
                let order_id = msg.decode::<Commit>()?.order_id;
                let lines = Self::transition(
                    store,
                    order_id,
                    Reserved,
                    Committed,
                    at,
                    &mut lows,
                    |s, q| {
                        s.on_hand -= q;
                        s.reserved -= q;
                        s.sold += q;
                    },
                )?;
                let e = Effects::reply(&())?;
                if lines.is_empty() {
                    e
                } else {
                    e.publish(&StockCommittedEvent { order_id, lines })
                }
            }
            _ => {
                let order_id = msg.decode::<Restock>()?.order_id;
                let lines = Self::transition(
                    store,
                    order_id,
                    Committed,
                    Restocked,
                    at,
                    &mut lows,
                    |s, q| {
                        s.on_hand += q;
                        s.sold -= q;
                    },
                )?;
                let e = Effects::reply(&())?;
                if lines.is_empty() {
                    e
                } else {
                    e.publish(&StockRestockedEvent { order_id, lines })
                }
            }
        };
        Ok(with_lows(effects, &lows))
    }

    fn set_stock(store: &mut InventoryStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: SetStock = msg.decode()?;
        cmd.validate()?;
        let mut lows = Vec::new();
        let (row, before) = match store.get(&cmd.sku)? {
            Some(mut row) => {
                if cmd.on_hand < row.reserved {
                    return Err(InventoryError::BelowReserved {
                        sku: cmd.sku,
                        on_hand: cmd.on_hand,
                        reserved: row.reserved,
                    }
                    .into());
                }
                let before = row.on_hand;
                row.on_hand = cmd.on_hand;
                row.reorder_point = cmd.reorder_point.unwrap_or(row.reorder_point);
                save(store, &mut row, msg.created_at, &mut lows)?;
                (row, before)
            }
            None => {
                let reorder_point = cmd.reorder_point.unwrap_or(DEFAULT_REORDER_POINT);
                let mut row = StockRow::new(&cmd.sku, cmd.on_hand, reorder_point);
                lows.extend(crossing(&mut row));
                store.insert(&row, msg.created_at)?;
                (row, 0)
            }
        };
        let effects = Effects::reply(&row.view())?.publish(&StockAdjustedEvent {
            sku: row.sku.clone(),
            delta: row.on_hand - before,
            on_hand: row.on_hand,
            reason: "set".into(),
            order_id: None,
        });
        Ok(with_lows(effects, &lows))
    }

    fn decrease(store: &mut InventoryStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: Decrease = msg.decode()?;
        cmd.validate()?;
        let mut row = store
            .get(&cmd.sku)?
            .ok_or_else(|| InventoryError::UnknownSku(cmd.sku.clone()))?;
        if let Some(quantity) = store.decreased(&cmd.order_id, &cmd.sku)? {
            if quantity != cmd.quantity {
                return Err(InventoryError::DecreaseMismatch {
                    order_id: cmd.order_id,
                    sku: cmd.sku,
                    quantity,
                    requested: cmd.quantity,
                }
                .into());
            }
            // Already applied for this order: the stock as it is now.
            return Effects::reply(&row.view());
        }
        if row.available() < cmd.quantity {
            return Err(InventoryError::Insufficient {
                sku: cmd.sku,
                available: row.available(),
                requested: cmd.quantity,
            }
            .into());
        }
        row.on_hand -= cmd.quantity;
        row.sold += cmd.quantity;
        let mut lows = Vec::new();
        save(store, &mut row, msg.created_at, &mut lows)?;
        store.record_decrease(&cmd.order_id, &cmd.sku, cmd.quantity, msg.created_at)?;
        let effects = Effects::reply(&row.view())?.publish(&StockAdjustedEvent {
            sku: row.sku.clone(),
            delta: -cmd.quantity,
            on_hand: row.on_hand,
            reason: "decrease".into(),
            order_id: Some(cmd.order_id),
        });
        Ok(with_lows(effects, &lows))
    }

    fn product_created(
        store: &mut InventoryStore<'_>,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let e: ProductCreated = msg.decode()?;
        let sku = e.product.sku;
        let on_hand = e.initial_stock.unwrap_or(0).clamp(0, MAX_ON_HAND);
        let mut row = StockRow::new(&sku, on_hand, DEFAULT_REORDER_POINT);
        let lows: Vec<_> = crossing(&mut row).into_iter().collect();
        if !store.insert(&row, msg.created_at)? {
            // Stocked already (an admin counted it first, or a re-created sku).
            return Effects::reply(&());
        }
        let effects = Effects::reply(&())?.publish(&StockAdjustedEvent {
            sku,
            delta: on_hand,
            on_hand,
            reason: "initial".into(),
            order_id: None,
        });
        Ok(with_lows(effects, &lows))
    }
}

impl crate::mom::Destination for Inventory {
    const NAME: &'static str = "inventory";
}

impl Service for Inventory {
    const SUBSCRIPTIONS: &'static [&'static str] = &[ProductCreated::TOPIC];

    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = InventoryStore(conn);
        match msg.kind {
            GetStock::KIND => {
                let q: GetStock = msg.decode()?;
                let row = store
                    .get(&q.sku)?
                    .ok_or(InventoryError::UnknownSku(q.sku))?;
                Effects::reply(&row.view())
            }
            LowStock::KIND => {
                let q: LowStock = msg.decode()?;
                Effects::reply(&store.low_stock(q.page)?)
            }
            SetStock::KIND => Self::set_stock(&mut store, msg),
            Decrease::KIND => Self::decrease(&mut store, msg),
            Reserve::KIND => Self::reserve(&mut store, msg),
            Release::KIND | Commit::KIND | Restock::KIND => Self::saga_step(&mut store, msg),
            ProductCreated::TOPIC => Self::product_created(&mut store, msg),
            other => {
                Err(Problem::bad_request(format!("inventory does not handle `{other}`")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::Connection;
    use serde_json::{json, Value};

    use super::*;
    use crate::problem::ProblemKind;

    /// A fresh, migrated `inventory.db` and a clock for envelope times.
    struct Db {
        conn: crate::store::Conn,
        now: i64,
        _dir: tempfile::TempDir,
    }

    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::store::open(
            &dir.path().join("inventory.db"),
            crate::store::migrations::INVENTORY,
            1,
        )
        .unwrap();
        Db {
            conn: pool.get().unwrap(),
            now: 1_700_000_000_000,
            _dir: dir,
        }
    }

    impl Db {
        /// Delivers one envelope as the runtime does: in a savepoint that a
        /// failure rolls back.
        fn deliver(&mut self, kind: &str, payload: Value) -> Result<Effects, Failure> {
            self.now += 1;
            let payload = payload.to_string();
            let msg = Incoming {
                id: Uuid::now_v7(),
                kind,
                payload: &payload,
                created_at: self.now,
            };
            self.conn.transaction(|c| Inventory.handle(c, &msg))
        }

        fn ok(&mut self, kind: &str, payload: Value) -> Effects {
            match self.deliver(kind, payload) {
                Ok(e) => e,
                Err(Failure::Rejected(p)) => panic!("{kind} rejected: {p}"),
                Err(Failure::Transient(e)) => panic!("{kind} failed: {e}"),
            }
        }

        fn rejected(&mut self, kind: &str, payload: Value) -> Problem {
            match self.deliver(kind, payload) {
                Err(Failure::Rejected(p)) => p,
                Err(Failure::Transient(e)) => panic!("{kind} failed: {e}"),
                Ok(e) => panic!("{kind} was applied: {e:?}"),
            }
        }

        fn set(&mut self, sku: &str, on_hand: i64) -> StockView {
            let e = self.ok(
                SetStock::KIND,
                json!({"sku": sku, "on_hand": on_hand, "reorder_point": 0}),
            );
            serde_json::from_value(e.reply).unwrap()
        }

        fn stock(&mut self, sku: &str) -> StockView {
            let e = self.ok(GetStock::KIND, json!({ "sku": sku }));
            serde_json::from_value(e.reply).unwrap()
        }

        fn reserve(&mut self, order_id: Uuid, lines: &[(&str, i64)]) -> Effects {
            let lines: Vec<Value> = lines
                .iter()
                .map(|(sku, q)| json!({"sku": sku, "quantity": q}))
                .collect();
            self.ok(Reserve::KIND, json!({"order_id": order_id, "lines": lines}))
        }

        fn step(&mut self, kind: &str, order_id: Uuid) -> Effects {
            self.ok(kind, json!({ "order_id": order_id }))
        }
    }

    fn topics(e: &Effects) -> Vec<&str> {
        e.publish.iter().map(|p| p.topic.as_str()).collect()
    }

    /// The one command sent: its kind and payload.
    fn sent(e: &Effects) -> (&str, Value) {
        assert_eq!(e.send.len(), 1, "{e:?}");
        let d = &e.send[0];
        assert_eq!(d.destination, crate::actors::orders::NAME);
        (d.kind.as_str(), serde_json::from_str(&d.payload).unwrap())
    }

    fn published<T: serde::de::DeserializeOwned>(e: &Effects, topic: &str) -> T {
        let p = e.publish.iter().find(|p| p.topic == topic).unwrap();
        serde_json::from_str(&p.payload).unwrap()
    }

    fn view(sku: &str, on_hand: i64, reserved: i64, sold: i64) -> (String, i64, i64, i64, i64) {
        (sku.into(), on_hand, reserved, on_hand - reserved, sold)
    }

    fn short(v: StockView) -> (String, i64, i64, i64, i64) {
        (v.sku, v.on_hand, v.reserved, v.available, v.sold)
    }

    #[test]
    fn reserve_is_all_or_nothing() {
        let mut db = db();
        db.set("a", 5);
        db.set("b", 1);

        let order = Uuid::now_v7();
        let e = db.reserve(order, &[("a", 2), ("b", 2)]);
        let (kind, reply) = sent(&e);
        assert_eq!(kind, StockUnavailable::KIND);
        assert_eq!(reply["order_id"], order.to_string());
        let reason = reply["reason"].as_str().unwrap();
        assert!(
            reason.contains("`b`") && reason.contains("1 available"),
            "{reason}"
        );
        assert!(e.publish.is_empty(), "a refusal publishes nothing");
        assert_eq!(short(db.stock("a")), view("a", 5, 0, 0));
        assert_eq!(short(db.stock("b")), view("b", 1, 0, 0));

        // Duplicate skus are summed: 2 + 2 of `a` plus 1 of `b` fits.
        let order = Uuid::now_v7();
        let e = db.reserve(order, &[("a", 2), ("b", 1), ("a", 2)]);
        assert_eq!(sent(&e).0, StockReserved::KIND);
        let ev: StockReservedEvent = published(&e, StockReservedEvent::TOPIC);
        assert_eq!(ev.order_id, order);
        assert_eq!(
            ev.lines,
            vec![
                Line {
                    sku: "a".into(),
                    quantity: 4
                },
                Line {
                    sku: "b".into(),
                    quantity: 1
                }
            ]
        );
        assert_eq!(short(db.stock("a")), view("a", 5, 4, 0));
        assert_eq!(short(db.stock("b")), view("b", 1, 1, 0));

        // Duplicates that together exceed what is available are refused.
        let e = db.reserve(Uuid::now_v7(), &[("a", 1), ("a", 1)]);
        let (kind, reply) = sent(&e);
        assert_eq!(kind, StockUnavailable::KIND);
        assert!(reply["reason"].as_str().unwrap().contains("2 requested"));

        // Unknown skus, empty orders and non-positive quantities are refusals
        // the saga hears about, not errors.
        for lines in [
            vec![("a", 1), ("ghost", 1)],
            vec![],
            vec![("a", 0)],
            vec![("a", -3)],
        ] {
            let e = db.reserve(Uuid::now_v7(), &lines);
            assert_eq!(sent(&e).0, StockUnavailable::KIND, "{lines:?}");
        }
        assert_eq!(short(db.stock("a")), view("a", 5, 4, 0));
    }

    #[test]
    fn a_repeated_reserve_answers_like_the_first_and_reserves_once() {
        let mut db = db();
        db.set("a", 3);
        let order = Uuid::now_v7();
        let first = db.reserve(order, &[("a", 2)]);
        assert_eq!(sent(&first).0, StockReserved::KIND);
        let again = db.reserve(order, &[("a", 2)]);
        assert_eq!(sent(&again).0, StockReserved::KIND);
        assert!(again.publish.is_empty(), "{:?}", topics(&again));
        assert_eq!(short(db.stock("a")), view("a", 3, 2, 0));

        // A refusal is repeated too, even once stock has arrived.
        let refused = Uuid::now_v7();
        let e = db.reserve(refused, &[("a", 2)]);
        let (kind, first_reply) = sent(&e);
        assert_eq!(kind, StockUnavailable::KIND);
        db.set("a", 100);
        let e = db.reserve(refused, &[("a", 2)]);
        let (kind, reply) = sent(&e);
        assert_eq!(kind, StockUnavailable::KIND);
        assert_eq!(reply, first_reply);
        assert_eq!(short(db.stock("a")), view("a", 100, 2, 0));
    }

    #[test]
    fn release_commit_and_restock_move_each_reservation_once() {
        let mut db = db();
        db.set("a", 10);
        db.set("b", 10);

        // reserved → committed → restocked
        let sold = Uuid::now_v7();
        db.reserve(sold, &[("a", 3), ("b", 1)]);
        let e = db.step(Commit::KIND, sold);
        let ev: StockCommittedEvent = published(&e, StockCommittedEvent::TOPIC);
        assert_eq!(ev.lines.len(), 2);
        assert_eq!(short(db.stock("a")), view("a", 7, 0, 3));
        assert_eq!(short(db.stock("b")), view("b", 9, 0, 1));
        for kind in [Commit::KIND, Release::KIND] {
            let e = db.step(kind, sold);
            assert!(e.publish.is_empty() && e.send.is_empty(), "{kind}: {e:?}");
        }
        assert_eq!(short(db.stock("a")), view("a", 7, 0, 3));
        let e = db.step(Restock::KIND, sold);
        let ev: StockRestockedEvent = published(&e, StockRestockedEvent::TOPIC);
        assert_eq!(ev.order_id, sold);
        assert_eq!(short(db.stock("a")), view("a", 10, 0, 0));
        assert_eq!(short(db.stock("b")), view("b", 10, 0, 0));
        assert!(db.step(Restock::KIND, sold).publish.is_empty());
        assert_eq!(short(db.stock("a")), view("a", 10, 0, 0));

        // reserved → released; then nothing else applies.
        let dropped = Uuid::now_v7();
        db.reserve(dropped, &[("a", 4)]);
        assert_eq!(short(db.stock("a")), view("a", 10, 4, 0));
        let e = db.step(Release::KIND, dropped);
        let ev: StockReleasedEvent = published(&e, StockReleasedEvent::TOPIC);
        assert_eq!(ev.lines[0].quantity, 4);
        assert_eq!(short(db.stock("a")), view("a", 10, 0, 0));
        for kind in [Release::KIND, Commit::KIND, Restock::KIND] {
            assert!(db.step(kind, dropped).publish.is_empty(), "{kind}");
        }
        assert_eq!(short(db.stock("a")), view("a", 10, 0, 0));

        // A restock before any commit, and steps for unknown orders: no-ops.
        let pending = Uuid::now_v7();
        db.reserve(pending, &[("a", 1)]);
        assert!(db.step(Restock::KIND, pending).publish.is_empty());
        assert_eq!(short(db.stock("a")), view("a", 10, 1, 0));
        for kind in [Release::KIND, Commit::KIND, Restock::KIND] {
            assert!(db.step(kind, Uuid::now_v7()).publish.is_empty());
        }
    }

    #[test]
    fn set_stock_creates_counts_and_never_goes_below_reserved() {
        let mut db = db();
        assert_eq!(
            db.rejected(GetStock::KIND, json!({"sku": "new"})).kind,
            ProblemKind::NotFound
        );
        let e = db.ok(SetStock::KIND, json!({"sku": "new", "on_hand": 20}));
        let v: StockView = serde_json::from_value(e.reply.clone()).unwrap();
        assert_eq!(v.reorder_point, DEFAULT_REORDER_POINT);
        let adj: StockAdjustedEvent = published(&e, StockAdjustedEvent::TOPIC);
        assert_eq!(
            (adj.delta, adj.on_hand, adj.reason.as_str()),
            (20, 20, "set")
        );

        db.reserve(Uuid::now_v7(), &[("new", 8)]);
        let p = db.rejected(SetStock::KIND, json!({"sku": "new", "on_hand": 7}));
        assert_eq!(p.kind, ProblemKind::Conflict);
        assert!(p.detail.contains("8 reserved"), "{}", p.detail);
        let e = db.ok(
            SetStock::KIND,
            json!({"sku": "new", "on_hand": 8, "reorder_point": 2}),
        );
        let adj: StockAdjustedEvent = published(&e, StockAdjustedEvent::TOPIC);
        assert_eq!(adj.delta, -12);
        let v = db.stock("new");
        assert_eq!(
            (v.on_hand, v.reserved, v.available, v.reorder_point),
            (8, 8, 0, 2)
        );

        for bad in [
            json!({"sku": "new", "on_hand": -1}),
            json!({"sku": "new", "on_hand": MAX_ON_HAND + 1}),
            json!({"sku": "new", "on_hand": 1, "reorder_point": -1}),
            json!({"sku": "", "on_hand": 1}),
            json!({"sku": "has space", "on_hand": 1}),
            json!({"sku": "x".repeat(MAX_SKU + 1), "on_hand": 1}),
        ] {
            let p = db.rejected(SetStock::KIND, bad.clone());
            assert_eq!(p.kind, ProblemKind::Unprocessable, "{bad}");
        }
        assert_eq!(
            db.rejected(SetStock::KIND, json!({"sku": "new"})).kind,
            ProblemKind::BadRequest
        );
        assert_eq!(db.stock("new").on_hand, 8);
    }

    #[test]
    fn decrease_applies_once_per_order_and_sku() {
        let mut db = db();
        db.set("a", 10);
        let body = json!({"sku": "a", "quantity": 3, "order_id": "seed-1"});
        let e = db.ok(Decrease::KIND, body.clone());
        let v: StockView = serde_json::from_value(e.reply.clone()).unwrap();
        assert_eq!(short(v), view("a", 7, 0, 3));
        assert_eq!(topics(&e), [StockAdjustedEvent::TOPIC]);

        let e = db.ok(Decrease::KIND, body);
        assert!(e.publish.is_empty());
        let v: StockView = serde_json::from_value(e.reply).unwrap();
        assert_eq!(short(v), view("a", 7, 0, 3));

        let p = db.rejected(
            Decrease::KIND,
            json!({"sku": "a", "quantity": 4, "order_id": "seed-1"}),
        );
        assert_eq!(p.kind, ProblemKind::Conflict);

        // Reserved units are not available to a decrease.
        db.reserve(Uuid::now_v7(), &[("a", 5)]);
        let p = db.rejected(
            Decrease::KIND,
            json!({"sku": "a", "quantity": 3, "order_id": "seed-2"}),
        );
        assert_eq!(p.kind, ProblemKind::Conflict);
        assert!(p.detail.contains("2 available"), "{}", p.detail);
        db.ok(
            Decrease::KIND,
            json!({"sku": "a", "quantity": 2, "order_id": "seed-2"}),
        );
        assert_eq!(short(db.stock("a")), view("a", 5, 5, 5));

        let p = db.rejected(
            Decrease::KIND,
            json!({"sku": "ghost", "quantity": 1, "order_id": "seed-3"}),
        );
        assert_eq!(p.kind, ProblemKind::NotFound);
        for (q, order) in [
            (0, "x"),
            (-1, "x"),
            (MAX_DECREASE + 1, "x"),
            (1, ""),
            (1, "a b"),
        ] {
            let p = db.rejected(
                Decrease::KIND,
                json!({"sku": "a", "quantity": q, "order_id": order}),
            );
            assert_eq!(p.kind, ProblemKind::Unprocessable, "{q} {order:?}");
        }
        assert_eq!(short(db.stock("a")), view("a", 5, 5, 5));
    }

    #[test]
    fn low_stock_is_announced_once_per_dip_and_listed() {
        let mut db = db();
        let e = db.ok(
            SetStock::KIND,
            json!({"sku": "a", "on_hand": 10, "reorder_point": 5}),
        );
        assert!(!topics(&e).contains(&LowStockEvent::TOPIC));
        db.ok(
            SetStock::KIND,
            json!({"sku": "b", "on_hand": 100, "reorder_point": 5}),
        );

        // 10 → 6 available: still above; 6 → 5: crosses; → 3: already low.
        let order = Uuid::now_v7();
        assert!(!topics(&db.reserve(order, &[("a", 4)])).contains(&LowStockEvent::TOPIC));
        let e = db.reserve(Uuid::now_v7(), &[("a", 1)]);
        let low: LowStockEvent = published(&e, LowStockEvent::TOPIC);
        assert_eq!(
            (low.sku.as_str(), low.available, low.reorder_point),
            ("a", 5, 5)
        );
        assert!(!topics(&db.reserve(Uuid::now_v7(), &[("a", 2)])).contains(&LowStockEvent::TOPIC));

        let (s, v) = {
            let e = db.ok(
                LowStock::KIND,
                json!({"page": {"page": 1, "page_size": 10}}),
            );
            let p: Paged<StockView> = serde_json::from_value(e.reply).unwrap();
            (p.total, p.items)
        };
        assert_eq!(s, 1);
        assert_eq!(v[0].sku, "a");
        assert_eq!(v[0].available, 3);

        // Back above the point (release 4 → 7 available), then down again.
        db.step(Release::KIND, order);
        let e = db.ok(
            Decrease::KIND,
            json!({"sku": "a", "quantity": 3, "order_id": "dip-2"}),
        );
        assert!(topics(&e).contains(&LowStockEvent::TOPIC));

        let e = db.ok(LowStock::KIND, json!({"page": {"page": 2, "page_size": 1}}));
        let p: Paged<StockView> = serde_json::from_value(e.reply).unwrap();
        assert_eq!((p.total, p.items.len()), (1, 0));
    }

    #[test]
    fn a_created_product_is_stocked_once() {
        let mut db = db();
        let created = |sku: &str, stock: Option<i64>| {
            json!({
                "product": {"sku": sku, "title": "T", "category": "books",
                            "price_cents": 100, "currency": "USD"},
                "initial_stock": stock,
            })
        };
        let e = db.ok(ProductCreated::TOPIC, created("p1", Some(12)));
        assert_eq!(topics(&e), [StockAdjustedEvent::TOPIC]);
        let v = db.stock("p1");
        assert_eq!(
            (v.on_hand, v.reorder_point, v.sold),
            (12, DEFAULT_REORDER_POINT, 0)
        );

        // The same product again (a replayed or re-created sku) changes nothing.
        db.reserve(Uuid::now_v7(), &[("p1", 2)]);
        let e = db.ok(ProductCreated::TOPIC, created("p1", Some(50)));
        assert!(e.publish.is_empty());
        assert_eq!(short(db.stock("p1")), view("p1", 12, 2, 0));

        // No initial stock: an empty row, low from the start.
        let e = db.ok(ProductCreated::TOPIC, created("p2", None));
        assert!(topics(&e).contains(&LowStockEvent::TOPIC));
        assert_eq!(db.stock("p2").on_hand, 0);
    }

    #[test]
    fn stock_is_conserved_and_never_negative_under_any_sequence() {
        let mut db = db();
        let skus = ["a", "b", "c"];
        // on_hand + sold must equal what admins put in.
        let mut put_in = [0i64; 3];
        for (i, sku) in skus.iter().enumerate() {
            db.set(sku, 20);
            put_in[i] = 20;
        }
        let mut orders: Vec<Uuid> = Vec::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        // What the sequence did: each kind of change must have happened.
        let mut seen = BTreeMap::<String, usize>::new();
        for round in 0..600 {
            let pick = next(100);
            let pick_order = |n: u64, orders: &[Uuid]| {
                if orders.is_empty() || n == 0 {
                    Uuid::now_v7()
                } else {
                    orders[n as usize % orders.len()]
                }
            };
            match pick {
                0..=34 => {
                    let lines: Vec<(&str, i64)> = (0..1 + next(3))
                        .map(|_| (skus[next(3) as usize], 1 + next(6) as i64))
                        .collect();
                    // Mostly new orders, sometimes a repeat of an earlier one.
                    let order = pick_order(next(5) / 3, &orders);
                    let e = db.reserve(order, &lines);
                    orders.push(order);
                    seen.extend(topics(&e).into_iter().map(|t| (t.to_owned(), 1)));
                }
                35..=79 => {
                    let kind = match pick {
                        35..=49 => Release::KIND,
                        50..=69 => Commit::KIND,
                        _ => Restock::KIND,
                    };
                    let e = db.step(kind, pick_order(1 + next(50), &orders));
                    seen.extend(topics(&e).into_iter().map(|t| (t.to_owned(), 1)));
                }
                80..=89 => {
                    let i = next(3) as usize;
                    let _ = db.deliver(
                        Decrease::KIND,
                        json!({"sku": skus[i], "quantity": 1 + next(4), "order_id": format!("d{}", next(40))}),
                    );
                }
                _ => {
                    let i = next(3) as usize;
                    let before = db.stock(skus[i]).on_hand;
                    let target = next(30) as i64;
                    if db
                        .deliver(SetStock::KIND, json!({"sku": skus[i], "on_hand": target}))
                        .is_ok()
                    {
                        put_in[i] += target - before;
                    }
                }
            }
            for (i, sku) in skus.iter().enumerate() {
                let v = db.stock(sku);
                assert!(
                    v.on_hand >= 0 && v.reserved >= 0 && v.sold >= 0 && v.available >= 0,
                    "round {round}: {v:?}"
                );
                assert_eq!(v.on_hand + v.sold, put_in[i], "round {round}: {v:?}");
            }
        }
        for topic in [
            StockReservedEvent::TOPIC,
            StockReleasedEvent::TOPIC,
            StockCommittedEvent::TOPIC,
            StockRestockedEvent::TOPIC,
            LowStockEvent::TOPIC,
        ] {
            assert!(seen.contains_key(topic), "never {topic}: {seen:?}");
        }
        // Every reservation still held is counted in `reserved`, no more.
        let mut store = InventoryStore(&mut db.conn);
        let mut held = BTreeMap::<String, i64>::new();
        for o in &orders {
            for r in store.reservations(*o).unwrap() {
                if r.state == ReservationState::Reserved {
                    *held.entry(r.sku).or_default() += r.quantity;
                }
            }
        }
        for sku in skus {
            let row = store.get(sku).unwrap().unwrap();
            assert_eq!(row.reserved, held.get(sku).copied().unwrap_or(0), "{sku}");
        }
    }
}
