//! `inventory.db`: stock rows, reservations per (order, sku), the first
//! answer to each order's Reserve, and applied decreases.
use diesel::prelude::*;
use uuid::Uuid;

use super::{Line, StockView};
use crate::problem::{Page, Paged};

diesel::table! {
    stock (sku) {
        sku -> Text,
        on_hand -> BigInt,
        reserved -> BigInt,
        sold -> BigInt,
        reorder_point -> BigInt,
        low_alerted -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    reservations (order_id, sku) {
        order_id -> Text,
        sku -> Text,
        quantity -> BigInt,
        state -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    reserve_decisions (order_id) {
        order_id -> Text,
        reserved -> Bool,
        reason -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    decreases (order_id, sku) {
        order_id -> Text,
        sku -> Text,
        quantity -> BigInt,
        created_at -> BigInt,
    }
}

/// One sku's stock, as stored; the logic changes it in memory and saves it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = stock)]
pub struct StockRow {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub sold: i64,
    pub reorder_point: i64,
    /// `inventory.low_stock` was published for the current dip.
    pub low_alerted: bool,
}

impl StockRow {
    pub fn new(sku: &str, on_hand: i64, reorder_point: i64) -> Self {
        Self {
            sku: sku.to_owned(),
            on_hand,
            reserved: 0,
            sold: 0,
            reorder_point,
            low_alerted: false,
        }
    }

    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    pub fn view(&self) -> StockView {
        StockView {
            sku: self.sku.clone(),
            on_hand: self.on_hand,
            reserved: self.reserved,
            available: self.available(),
            reorder_point: self.reorder_point,
            sold: self.sold,
        }
    }
}

/// Where an order's units of one sku stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    Reserved,
    Released,
    Committed,
    Restocked,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Released => "released",
            Self::Committed => "committed",
            Self::Restocked => "restocked",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reserved" => Self::Reserved,
            "released" => Self::Released,
            "committed" => Self::Committed,
            "restocked" => Self::Restocked,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub sku: String,
    pub quantity: i64,
    pub state: ReservationState,
}

pub struct InventoryStore<'a>(pub &'a mut SqliteConnection);

impl InventoryStore<'_> {
    pub fn get(&mut self, sku: &str) -> QueryResult<Option<StockRow>> {
        stock::table
            .find(sku)
            .select(StockRow::as_select())
            .first(self.0)
            .optional()
    }

    /// Inserts `row` unless the sku has one; whether it did.
    pub fn insert(&mut self, row: &StockRow, at: i64) -> QueryResult<bool> {
        diesel::insert_into(stock::table)
            .values((
                stock::sku.eq(&row.sku),
                stock::on_hand.eq(row.on_hand),
                stock::reserved.eq(row.reserved),
                stock::sold.eq(row.sold),
                stock::reorder_point.eq(row.reorder_point),
                stock::low_alerted.eq(row.low_alerted),
                stock::created_at.eq(at),
                stock::updated_at.eq(at),
            ))
            .on_conflict_do_nothing()
            .execute(self.0)
            .map(|n| n == 1)
    }

    pub fn save(&mut self, row: &StockRow, at: i64) -> QueryResult<()> {
        diesel::update(stock::table.find(&row.sku))
            .set((
                stock::on_hand.eq(row.on_hand),
                stock::reserved.eq(row.reserved),
                stock::sold.eq(row.sold),
                stock::reorder_point.eq(row.reorder_point),
                stock::low_alerted.eq(row.low_alerted),
                stock::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// Skus whose available stock is at or below their reorder point, the
    /// emptiest first.
    pub fn low_stock(&mut self, page: Page) -> QueryResult<Paged<StockView>> {
        let available = stock::on_hand - stock::reserved;
        let low = available.le(stock::reorder_point);
        let total: i64 = stock::table.filter(low).count().get_result(self.0)?;
        let rows: Vec<StockRow> = stock::table
            .filter(low)
            .order((available.asc(), stock::sku.asc()))
            .offset(page.offset())
            .limit(page.limit())
            .select(StockRow::as_select())
            .load(self.0)?;
        Ok(Paged {
            items: rows.iter().map(StockRow::view).collect(),
            page: page.page,
            page_size: page.page_size,
            total: total as u64,
        })
    }

    /// The order's rows, by sku.
    pub fn reservations(&mut self, order_id: Uuid) -> QueryResult<Vec<Reservation>> {
        let rows: Vec<(String, i64, String)> = reservations::table
            .filter(reservations::order_id.eq(order_id.to_string()))
            .order(reservations::sku.asc())
            .select((
                reservations::sku,
                reservations::quantity,
                reservations::state,
            ))
            .load(self.0)?;
        rows.into_iter()
            .map(|(sku, quantity, state)| {
                let state = ReservationState::parse(&state).ok_or_else(|| {
                    diesel::result::Error::DeserializationError(
                        format!("unknown reservation state `{state}`").into(),
                    )
                })?;
                Ok(Reservation {
                    sku,
                    quantity,
                    state,
                })
            })
            .collect()
    }

    pub fn insert_reservation(&mut self, order_id: Uuid, line: &Line, at: i64) -> QueryResult<()> {
        diesel::insert_into(reservations::table)
            .values((
                reservations::order_id.eq(order_id.to_string()),
                reservations::sku.eq(&line.sku),
                reservations::quantity.eq(line.quantity),
                reservations::state.eq(ReservationState::Reserved.as_str()),
                reservations::created_at.eq(at),
                reservations::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn set_reservation_state(
        &mut self,
        order_id: Uuid,
        sku: &str,
        state: ReservationState,
        at: i64,
    ) -> QueryResult<()> {
        diesel::update(reservations::table.find((order_id.to_string(), sku)))
            .set((
                reservations::state.eq(state.as_str()),
                reservations::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// The first Reserve's answer for the order: reserved, or the reason not.
    pub fn decision(&mut self, order_id: Uuid) -> QueryResult<Option<Result<(), String>>> {
        let row: Option<(bool, Option<String>)> = reserve_decisions::table
            .find(order_id.to_string())
            .select((reserve_decisions::reserved, reserve_decisions::reason))
            .first(self.0)
            .optional()?;
        Ok(row.map(|(reserved, reason)| {
            if reserved {
                Ok(())
            } else {
                Err(reason.unwrap_or_default())
            }
        }))
    }

    /// Records the answer: reserved (`refusal` None) or refused and why.
    pub fn record_decision(
        &mut self,
        order_id: Uuid,
        refusal: Option<&str>,
        at: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(reserve_decisions::table)
            .values((
                reserve_decisions::order_id.eq(order_id.to_string()),
                reserve_decisions::reserved.eq(refusal.is_none()),
                reserve_decisions::reason.eq(refusal),
                reserve_decisions::created_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// The quantity already decreased for (order, sku), if any.
    pub fn decreased(&mut self, order_id: &str, sku: &str) -> QueryResult<Option<i64>> {
        decreases::table
            .find((order_id, sku))
            .select(decreases::quantity)
            .first(self.0)
            .optional()
    }

    pub fn record_decrease(
        &mut self,
        order_id: &str,
        sku: &str,
        quantity: i64,
        at: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(decreases::table)
            .values((
                decreases::order_id.eq(order_id),
                decreases::sku.eq(sku),
                decreases::quantity.eq(quantity),
                decreases::created_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }
}
