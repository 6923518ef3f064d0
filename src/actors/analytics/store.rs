//! `analytics.db`: counted orders with their lines, and counters.
use std::collections::BTreeMap;

use diesel::{
    prelude::*,
    sql_types::{BigInt, Text},
    upsert::excluded,
};

use super::{DaySales, ProductSales};

diesel::table! {
    sales_orders (order_id) {
        order_id -> Text,
        confirmed_at -> Nullable<BigInt>,
        day -> Nullable<Text>,
        units -> BigInt,
        revenue_cents -> BigInt,
        cancelled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sales_lines (order_id, sku) {
        order_id -> Text,
        sku -> Text,
        title -> Text,
        units -> BigInt,
        revenue_cents -> BigInt,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

/// One sku's part of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLine {
    pub sku: String,
    pub title: String,
    pub units: i64,
    pub revenue_cents: i64,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    units: i64,
    #[diesel(sql_type = BigInt)]
    revenue_cents: i64,
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = BigInt)]
    units: i64,
    #[diesel(sql_type = BigInt)]
    revenue_cents: i64,
}

#[derive(QueryableByName)]
struct ProductRow {
    #[diesel(sql_type = Text)]
    sku: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = BigInt)]
    units: i64,
    #[diesel(sql_type = BigInt)]
    revenue_cents: i64,
}

/// The orders that count: confirmed in `[?1, ?2)` and not cancelled.
const COUNTED: &str = "o.confirmed_at IS NOT NULL AND o.cancelled_at IS NULL \
                       AND o.confirmed_at >= ? AND o.confirmed_at < ?";

pub struct AnalyticsStore<'a>(pub &'a mut SqliteConnection);

impl AnalyticsStore<'_> {
    /// Counts a confirmed order unless it was seen before (counted, or
    /// cancelled first); whether it did.
    pub fn count_order(
        &mut self,
        order_id: &str,
        confirmed_at: i64,
        day: &str,
        units: i64,
        revenue_cents: i64,
        lines: &[SaleLine],
    ) -> QueryResult<bool> {
        let inserted = diesel::insert_into(sales_orders::table)
            .values((
                sales_orders::order_id.eq(order_id),
                sales_orders::confirmed_at.eq(confirmed_at),
                sales_orders::day.eq(day),
                sales_orders::units.eq(units),
                sales_orders::revenue_cents.eq(revenue_cents),
            ))
            .on_conflict_do_nothing()
            .execute(self.0)?;
        if inserted == 0 {
            return Ok(false);
        }
        for l in lines {
            diesel::insert_into(sales_lines::table)
                .values((
                    sales_lines::order_id.eq(order_id),
                    sales_lines::sku.eq(&l.sku),
                    sales_lines::title.eq(&l.title),
                    sales_lines::units.eq(l.units),
                    sales_lines::revenue_cents.eq(l.revenue_cents),
                ))
                .execute(self.0)?;
        }
        Ok(true)
    }

    /// Takes the order out of every total (once); remembers a cancellation
    /// of an order not counted yet so a late confirmation is not counted.
    pub fn cancel_order(&mut self, order_id: &str, at: i64) -> QueryResult<()> {
        let updated = diesel::update(
            sales_orders::table
                .find(order_id)
                .filter(sales_orders::cancelled_at.is_null()),
        )
        .set(sales_orders::cancelled_at.eq(at))
        .execute(self.0)?;
        if updated == 0 {
            // Unknown (a tombstone now) or cancelled before: nothing to undo.
            diesel::insert_into(sales_orders::table)
                .values((
                    sales_orders::order_id.eq(order_id),
                    sales_orders::cancelled_at.eq(at),
                ))
                .on_conflict_do_nothing()
                .execute(self.0)?;
        }
        Ok(())
    }

    pub fn bump(&mut self, name: &str, by: i64) -> QueryResult<()> {
        diesel::insert_into(counters::table)
            .values((counters::name.eq(name), counters::value.eq(by)))
            .on_conflict(counters::name)
            .do_update()
            .set(counters::value.eq(counters::value + excluded(counters::value)))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn counters(&mut self) -> QueryResult<BTreeMap<String, i64>> {
        Ok(counters::table
            .select((counters::name, counters::value))
            .load::<(String, i64)>(self.0)?
            .into_iter()
            .collect())
    }

    /// (orders, units, revenue) of the orders that count in `[from, to)`.
    pub fn totals(&mut self, from: i64, to: i64) -> QueryResult<(i64, i64, i64)> {
        let t: Totals = diesel::sql_query(format!(
            "SELECT COUNT(*) AS orders, COALESCE(SUM(o.units), 0) AS units, \
             COALESCE(SUM(o.revenue_cents), 0) AS revenue_cents \
             FROM sales_orders o WHERE {COUNTED}"
        ))
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .get_result(self.0)?;
        Ok((t.orders, t.units, t.revenue_cents))
    }

    pub fn by_day(&mut self, from: i64, to: i64) -> QueryResult<Vec<DaySales>> {
        let rows: Vec<DayRow> = diesel::sql_query(format!(
            "SELECT o.day AS day, COUNT(*) AS orders, SUM(o.units) AS units, \
             SUM(o.revenue_cents) AS revenue_cents \
             FROM sales_orders o WHERE {COUNTED} GROUP BY o.day ORDER BY o.day"
        ))
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .load(self.0)?;
        Ok(rows
            .into_iter()
            .map(|r| DaySales {
                day: r.day,
                orders: r.orders,
                units: r.units,
                revenue_cents: r.revenue_cents,
            })
            .collect())
    }

    pub fn by_product(&mut self, from: i64, to: i64) -> QueryResult<Vec<ProductSales>> {
        // SQLite takes the bare `title` from the row holding MAX(confirmed_at):
        // the title on the most recent sale.
        let rows: Vec<ProductRow> = diesel::sql_query(format!(
            "SELECT l.sku AS sku, l.title AS title, MAX(o.confirmed_at) AS latest, \
             SUM(l.units) AS units, SUM(l.revenue_cents) AS revenue_cents \
             FROM sales_lines l JOIN sales_orders o ON o.order_id = l.order_id \
             WHERE {COUNTED} GROUP BY l.sku ORDER BY revenue_cents DESC, l.sku"
        ))
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .load(self.0)?;
        Ok(rows
            .into_iter()
            .map(|r| ProductSales {
                sku: r.sku,
                title: r.title,
                units: r.units,
                revenue_cents: r.revenue_cents,
            })
            .collect())
    }
}
