//! `analytics`: sales totals by product and by day, built only from
//! consumed events, in `analytics.db`.
//!
//! `order.confirmed` counts an order once (its id is the key), on the UTC
//! day it was confirmed; `order.cancelled` takes it out of every total, once
//! — and if the cancellation is heard first, the late confirmation is not
//! counted. Revenue is the sum of the order's lines (quantity × unit
//! price snapshot), so the totals, `by_product` and `by_day` always agree.
//! `inventory.#` keeps all-time counters (units reserved, released,
//! committed, restocked; low-stock alerts; stock adjustments).
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};

use super::{
    inventory::{
        LowStockEvent, StockAdjustedEvent, StockCommittedEvent, StockReleasedEvent,
        StockReservedEvent, StockRestockedEvent,
    },
    orders::{OrderCancelled, OrderConfirmed},
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Event, Query},
    problem::{rfc3339, Problem},
};

pub use store::{AnalyticsStore, SaleLine};

pub const CURRENCY: &str = "USD";

// ---- the report ----------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ProductSales {
    pub sku: String,
    /// The title on its most recent sale.
    pub title: String,
    pub units: i64,
    pub revenue_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DaySales {
    /// YYYY-MM-DD (UTC), the day the orders were confirmed.
    pub day: String,
    pub orders: i64,
    pub units: i64,
    pub revenue_cents: i64,
}

/// All-time counters from `inventory.*` events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct InventoryCounters {
    /// Orders whose stock was reserved.
    pub reservations: i64,
    pub units_reserved: i64,
    pub units_released: i64,
    pub units_committed: i64,
    pub units_restocked: i64,
    pub low_stock_alerts: i64,
    /// Stock changes outside the saga (initial stock, admin counts, decreases).
    pub adjustments: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SalesReport {
    /// The first instant counted (RFC 3339), or null for "since the start".
    pub from: Option<String>,
    /// The last instant counted (RFC 3339), or null for "until now".
    pub to: Option<String>,
    /// Confirmed orders in the range, not cancelled since.
    pub orders: i64,
    pub units: i64,
    pub revenue_cents: i64,
    pub currency: String,
    /// Best sellers (by revenue) first.
    pub by_product: Vec<ProductSales>,
    /// Days with sales, oldest first.
    pub by_day: Vec<DaySales>,
    pub inventory: InventoryCounters,
}

// ---- the query -------------------------------------------------------------------

/// Admin: the sales report for confirmation times in `[from_ms, to_ms)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetSales {
    pub from_ms: Option<i64>,
    /// Exclusive.
    pub to_ms: Option<i64>,
}

impl crate::mom::Message for GetSales {
    type To = Analytics;
    const KIND: &'static str = "get_sales";
    type Reply = SalesReport;
    fn validate(&self) -> Result<(), Problem> {
        match (self.from_ms, self.to_ms) {
            (Some(f), Some(t)) if f >= t => Err(Problem::invalid("from must not be after to")),
            _ => Ok(()),
        }
    }
}
impl Query for GetSales {}
impl crate::mom::Handles<GetSales> for Analytics {}

/// Which end of the range a bound is: a date means its whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    From,
    To,
}

/// `from` / `to` as both edges accept them: an RFC 3339 timestamp or a
/// `YYYY-MM-DD` date (UTC; as `to`, the whole day is included). Empty or
/// absent means unbounded.
fn bound(raw: Option<&str>, end: End) -> Result<Option<i64>, Problem> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let name = match end {
        End::From => "from",
        End::To => "to",
    };
    let bad = || {
        Problem::bad_request(format!(
            "{name} must be an RFC 3339 timestamp or a YYYY-MM-DD date, got `{s}`"
        ))
    };
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = match end {
            End::From => d,
            End::To => d.succ_opt().ok_or_else(bad)?,
        };
        let start = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
        return Ok(Some(start.timestamp_millis()));
    }
    // An unencoded `+01:00` in a query string arrives as ` 01:00`.
    let t = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc3339(&s.replace(' ', "+")))
        .map_err(|_| bad())?;
    let ms = t.with_timezone(&Utc).timestamp_millis();
    Ok(Some(match end {
        End::From => ms,
        // Inclusive: everything up to and including this millisecond.
        End::To => ms.checked_add(1).ok_or_else(bad)?,
    }))
}

impl GetSales {
    /// Parses the edges' `from` and `to`; 400 if unparsable, 422 if from > to.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, Problem> {
        let q = Self {
            from_ms: bound(from, End::From)?,
            to_ms: bound(to, End::To)?,
        };
        q.validate()?;
        Ok(q)
    }
}

/// YYYY-MM-DD (UTC) of a time in ms.
pub fn day_of(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// An order's lines merged by sku (sorted), with its units and revenue.
fn sale_lines(e: &OrderConfirmed) -> (Vec<SaleLine>, i64, i64) {
    let mut merged: BTreeMap<&str, SaleLine> = BTreeMap::new();
    for l in e.order.lines.iter().filter(|l| l.quantity > 0) {
        let revenue = l.quantity.saturating_mul(l.unit_price_cents.max(0));
        let entry = merged.entry(&l.sku).or_insert_with(|| SaleLine {
            sku: l.sku.clone(),
            title: l.title.clone(),
            units: 0,
            revenue_cents: 0,
        });
        entry.units = entry.units.saturating_add(l.quantity);
        entry.revenue_cents = entry.revenue_cents.saturating_add(revenue);
    }
    let lines: Vec<SaleLine> = merged.into_values().collect();
    let units = lines.iter().fold(0i64, |a, l| a.saturating_add(l.units));
    let revenue = lines
        .iter()
        .fold(0i64, |a, l| a.saturating_add(l.revenue_cents));
    (lines, units, revenue)
}

fn units(lines: &[super::inventory::Line]) -> i64 {
    lines.iter().fold(0i64, |a, l| a.saturating_add(l.quantity))
}

// ---- the actor -----------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Analytics;

impl Analytics {
    /// Counts one `inventory.*` event; topics it does not know are ignored.
    fn inventory_event(
        store: &mut AnalyticsStore<'_>,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let bumps: Vec<(&str, i64)> = match msg.kind {
            StockReservedEvent::TOPIC => {
                let e: StockReservedEvent = msg.decode()?;
                vec![("reservations", 1), ("units_reserved", units(&e.lines))]
            }
            StockReleasedEvent::TOPIC => {
                let e: StockReleasedEvent = msg.decode()?;
                vec![("units_released", units(&e.lines))]
            }
            StockCommittedEvent::TOPIC => {
                let e: StockCommittedEvent = msg.decode()?;
                vec![("units_committed", units(&e.lines))]
            }
            StockRestockedEvent::TOPIC => {
                let e: StockRestockedEvent = msg.decode()?;
                vec![("units_restocked", units(&e.lines))]
            }
            LowStockEvent::TOPIC => {
                msg.decode::<LowStockEvent>()?;
                vec![("low_stock_alerts", 1)]
            }
            StockAdjustedEvent::TOPIC => {
                msg.decode::<StockAdjustedEvent>()?;
                vec![("adjustments", 1)]
            }
            _ => Vec::new(),
        };
        for (name, by) in bumps {
            store.bump(name, by)?;
        }
        Effects::reply(&())
    }

    fn report(store: &mut AnalyticsStore<'_>, q: &GetSales) -> Result<SalesReport, Failure> {
        let from = q.from_ms.unwrap_or(i64::MIN);
        let to = q.to_ms.unwrap_or(i64::MAX);
        let (orders, units, revenue_cents) = store.totals(from, to)?;
        let counters = store.counters()?;
        let get = |name: &str| counters.get(name).copied().unwrap_or(0);
        Ok(SalesReport {
            from: q.from_ms.map(rfc3339),
            to: q.to_ms.map(|t| rfc3339(t - 1)),
            orders,
            units,
            revenue_cents,
            currency: CURRENCY.into(),
            by_product: store.by_product(from, to)?,
            by_day: store.by_day(from, to)?,
            inventory: InventoryCounters {
                reservations: get("reservations"),
                units_reserved: get("units_reserved"),
                units_released: get("units_released"),
                units_committed: get("units_committed"),
                units_restocked: get("units_restocked"),
                low_stock_alerts: get("low_stock_alerts"),
                adjustments: get("adjustments"),
            },
        })
    }
}

impl crate::mom::Destination for Analytics {
    const NAME: &'static str = "analytics";
}

impl Service for Analytics {
    const SUBSCRIPTIONS: &'static [&'static str] =
        &[OrderConfirmed::TOPIC, OrderCancelled::TOPIC, "inventory.#"];

    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = AnalyticsStore(conn);
        match msg.kind {
            GetSales::KIND => {
                let q: GetSales = msg.decode()?;
                q.validate()?;
                Effects::reply(&Self::report(&mut store, &q)?)
            }
            OrderConfirmed::TOPIC => {
                let e: OrderConfirmed = msg.decode()?;
                let (lines, units, revenue) = sale_lines(&e);
                store.count_order(
                    &e.order.id.to_string(),
                    e.confirmed_at_ms,
                    &day_of(e.confirmed_at_ms),
                    units,
                    revenue,
                    &lines,
                )?;
                Effects::reply(&())
            }
            OrderCancelled::TOPIC => {
                // Whatever `was_confirmed` says: an order counted is a
                // confirmed one, and a cancelled order never counts.
                let e: OrderCancelled = msg.decode()?;
                store.cancel_order(&e.order.id.to_string(), msg.created_at)?;
                Effects::reply(&())
            }
            kind if kind.starts_with("inventory.") => Self::inventory_event(&mut store, msg),
            other => {
                Err(Problem::bad_request(format!("analytics does not handle `{other}`")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::Connection;
    use serde_json::{json, Value};
    use uuid::Uuid;

    use super::*;
    use crate::problem::ProblemKind;

    /// 2026-03-01T10:00:00Z
    const MARCH_1: i64 = 1_772_359_200_000;
    const DAY: i64 = 86_400_000;

    struct Db {
        conn: crate::store::Conn,
        _dir: tempfile::TempDir,
    }

    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::store::open(
            &dir.path().join("analytics.db"),
            crate::store::migrations::ANALYTICS,
            1,
        )
        .unwrap();
        Db {
            conn: pool.get().unwrap(),
            _dir: dir,
        }
    }

    fn order(id: Uuid, lines: &[(&str, i64, i64)]) -> Value {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, q, price)| {
                json!({"sku": sku, "title": format!("Title {sku}"), "quantity": q,
                       "unit_price_cents": price})
            })
            .collect();
        json!({
            "id": id, "user_id": Uuid::nil(), "status": "confirmed", "lines": lines,
            "total_cents": 0, "currency": "USD", "payment_method": "card",
            "shipping_address": {"name": "A", "line1": "1 Main St", "city": "X",
                                 "postal_code": "1", "country": "US"},
            "created_at": "2026-03-01T00:00:00.000Z", "updated_at": "2026-03-01T00:00:00.000Z",
        })
    }

    impl Db {
        /// Delivers an event (a fresh envelope each time, as a replay past
        /// the inbox would be).
        fn event(&mut self, kind: &str, payload: Value) {
            let payload = payload.to_string();
            let msg = Incoming {
                id: Uuid::now_v7(),
                kind,
                payload: &payload,
                created_at: MARCH_1 + 40 * DAY,
            };
            self.conn
                .transaction(|c| Analytics.handle(c, &msg))
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        }

        fn confirmed(&mut self, id: Uuid, at: i64, lines: &[(&str, i64, i64)]) {
            self.event(
                OrderConfirmed::TOPIC,
                json!({"order": order(id, lines), "confirmed_at_ms": at}),
            );
        }

        fn cancelled(&mut self, id: Uuid, was_confirmed: bool) {
            self.event(
                OrderCancelled::TOPIC,
                json!({"order": order(id, &[("x", 1, 1)]), "was_confirmed": was_confirmed}),
            );
        }

        fn report(&mut self, from: Option<&str>, to: Option<&str>) -> SalesReport {
            let q = GetSales::parse(from, to).unwrap();
            let payload = serde_json::to_string(&q).unwrap();
            let msg = Incoming {
                id: Uuid::nil(),
                kind: GetSales::KIND,
                payload: &payload,
                created_at: 0,
            };
            let e = Analytics.handle(&mut self.conn, &msg).unwrap();
            serde_json::from_value(e.reply).unwrap()
        }
    }

    #[test]
    fn a_confirmed_order_counts_once_and_a_cancellation_subtracts_it_once() {
        let mut db = db();
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        db.confirmed(
            a,
            MARCH_1,
            &[("bk1", 2, 1_000), ("bk2", 1, 500), ("bk1", 1, 1_000)],
        );
        db.confirmed(a, MARCH_1, &[("bk1", 2, 1_000)]);
        db.confirmed(b, MARCH_1 + DAY, &[("bk2", 4, 500)]);

        let r = db.report(None, None);
        assert_eq!((r.orders, r.units, r.revenue_cents), (2, 8, 5_500));
        assert_eq!((r.from.as_deref(), r.to.as_deref()), (None, None));
        assert_eq!(r.currency, "USD");
        assert_eq!(
            r.by_product,
            vec![
                ProductSales {
                    sku: "bk1".into(),
                    title: "Title bk1".into(),
                    units: 3,
                    revenue_cents: 3_000
                },
                ProductSales {
                    sku: "bk2".into(),
                    title: "Title bk2".into(),
                    units: 5,
                    revenue_cents: 2_500
                },
            ]
        );
        let days: Vec<(&str, i64, i64, i64)> = r
            .by_day
            .iter()
            .map(|d| (d.day.as_str(), d.orders, d.units, d.revenue_cents))
            .collect();
        assert_eq!(
            days,
            [("2026-03-01", 1, 4, 3_500), ("2026-03-02", 1, 4, 2_000)]
        );

        // Cancelled (delivered twice): out of every total, once.
        db.cancelled(a, true);
        db.cancelled(a, true);
        let r = db.report(None, None);
        assert_eq!((r.orders, r.units, r.revenue_cents), (1, 4, 2_000));
        assert_eq!(r.by_product.len(), 1);
        assert_eq!(r.by_day.len(), 1);
        // A confirmation replayed after the cancellation does not bring it back.
        db.confirmed(a, MARCH_1, &[("bk1", 2, 1_000)]);
        assert_eq!(db.report(None, None).orders, 1);

        // Cancelled before its confirmation was heard: never counted.
        let c = Uuid::now_v7();
        db.cancelled(c, true);
        db.confirmed(c, MARCH_1, &[("bk1", 1, 1_000)]);
        // An unconfirmed cancellation changes nothing.
        db.cancelled(Uuid::now_v7(), false);
        let r = db.report(None, None);
        assert_eq!((r.orders, r.units, r.revenue_cents), (1, 4, 2_000));
    }

    #[test]
    fn the_range_selects_by_confirmation_time() {
        let mut db = db();
        db.confirmed(Uuid::now_v7(), MARCH_1, &[("a", 1, 100)]);
        db.confirmed(Uuid::now_v7(), MARCH_1 + DAY, &[("a", 1, 100)]);
        db.confirmed(Uuid::now_v7(), MARCH_1 + 2 * DAY, &[("a", 1, 100)]);
        let count = |db: &mut Db, from: Option<&str>, to: Option<&str>| db.report(from, to).orders;
        assert_eq!(count(&mut db, Some("2026-03-02"), None), 2);
        assert_eq!(count(&mut db, None, Some("2026-03-02")), 2);
        assert_eq!(count(&mut db, Some("2026-03-02"), Some("2026-03-02")), 1);
        assert_eq!(
            count(
                &mut db,
                Some("2026-03-01T10:00:00Z"),
                Some("2026-03-01T10:00:00Z")
            ),
            1
        );
        assert_eq!(count(&mut db, Some("2026-03-01T10:00:00.001Z"), None), 2);
        assert_eq!(
            count(
                &mut db,
                Some("2026-03-01T11:00:00+01:00"),
                Some("2026-03-01")
            ),
            1
        );
        assert_eq!(
            count(
                &mut db,
                Some("2026-03-01T11:00:00 01:00"),
                Some("2026-03-01")
            ),
            1
        );
        assert_eq!(count(&mut db, Some(""), Some("")), 3);
        let r = db.report(Some("2026-03-02"), Some("2026-03-02"));
        assert_eq!(r.from.as_deref(), Some("2026-03-02T00:00:00.000Z"));
        assert_eq!(r.to.as_deref(), Some("2026-03-02T23:59:59.999Z"));
        assert_eq!(r.by_day[0].day, "2026-03-02");
    }

    #[test]
    fn unparsable_or_inverted_ranges_are_refused() {
        for (from, to) in [
            (Some("yesterday"), None),
            (None, Some("2026-13-01")),
            (Some("2026-03-01T25:00:00Z"), None),
            (Some("1772359200000"), None),
        ] {
            let p = GetSales::parse(from, to).unwrap_err();
            assert_eq!(p.kind, ProblemKind::BadRequest, "{from:?} {to:?}");
        }
        let p = GetSales::parse(Some("2026-03-02"), Some("2026-03-01")).unwrap_err();
        assert_eq!(p.kind, ProblemKind::Unprocessable);
        let p = GetSales::parse(Some("2026-03-01T00:00:01Z"), Some("2026-03-01T00:00:00Z"))
            .unwrap_err();
        assert_eq!(p.kind, ProblemKind::Unprocessable);
    }

    #[test]
    fn inventory_events_keep_counters() {
        let mut db = db();
        let o = Uuid::now_v7();
        let lines = json!([{"sku": "a", "quantity": 2}, {"sku": "b", "quantity": 3}]);
        db.event("inventory.reserved", json!({"order_id": o, "lines": lines}));
        db.event("inventory.released", json!({"order_id": o, "lines": lines}));
        db.event(
            "inventory.reserved",
            json!({"order_id": o, "lines": [{"sku": "a", "quantity": 1}]}),
        );
        db.event(
            "inventory.committed",
            json!({"order_id": o, "lines": [{"sku": "a", "quantity": 1}]}),
        );
        db.event(
            "inventory.restocked",
            json!({"order_id": o, "lines": [{"sku": "a", "quantity": 1}]}),
        );
        db.event(
            "inventory.low_stock",
            json!({"sku": "a", "available": 1, "reorder_point": 5}),
        );
        db.event(
            "inventory.adjusted",
            json!({"sku": "a", "delta": 4, "on_hand": 4, "reason": "set"}),
        );
        db.event("inventory.something_new", json!({}));
        let r = db.report(None, None);
        assert_eq!(
            r.inventory,
            InventoryCounters {
                reservations: 2,
                units_reserved: 6,
                units_released: 5,
                units_committed: 1,
                units_restocked: 1,
                low_stock_alerts: 1,
                adjustments: 1,
            }
        );
        assert_eq!(r.orders, 0);
    }
}
