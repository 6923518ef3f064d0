//! `orders.db`: one row per order; `status` is where its saga stands.
use diesel::prelude::*;
use uuid::Uuid;

use super::messages::{Address, OrderLine, OrderStatus, OrderView, PaymentMethod};
use crate::problem::{rfc3339, Page, Paged};

diesel::table! {
    orders (id) {
        id -> Text,
        user_id -> Text,
        status -> Text,
        lines -> Text,
        total_cents -> BigInt,
        currency -> Text,
        payment -> Text,
        shipping_address -> Text,
        failure_reason -> Nullable<Text>,
        carrier -> Nullable<Text>,
        tracking_number -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

#[derive(Debug, Queryable)]
struct Row {
    id: String,
    user_id: String,
    status: String,
    lines: String,
    total_cents: i64,
    currency: String,
    payment: String,
    shipping_address: String,
    failure_reason: Option<String>,
    #[allow(dead_code)]
    carrier: Option<String>,
    tracking_number: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// An order with what the saga needs beyond the view.
#[derive(Debug, Clone)]
pub struct Order {
    pub view: OrderView,
    pub payment: PaymentMethod,
}

fn parse(r: Row) -> QueryResult<Order> {
    let bad = |e: serde_json::Error| diesel::result::Error::DeserializationError(Box::new(e));
    let payment: PaymentMethod = serde_json::from_str(&r.payment).map_err(bad)?;
    let lines: Vec<OrderLine> = serde_json::from_str(&r.lines).map_err(bad)?;
    let address: Address = serde_json::from_str(&r.shipping_address).map_err(bad)?;
    Ok(Order {
        view: OrderView {
            id: Uuid::parse_str(&r.id).unwrap_or_default(),
            user_id: Uuid::parse_str(&r.user_id).unwrap_or_default(),
            status: OrderStatus::parse(&r.status).unwrap_or(OrderStatus::Failed),
            lines,
            total_cents: r.total_cents,
            currency: r.currency,
            payment_method: payment.name().into(),
            shipping_address: address,
            failure_reason: r.failure_reason,
            tracking_number: r.tracking_number,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        },
        payment,
    })
}

pub struct OrderStore<'a>(pub &'a mut SqliteConnection);

impl OrderStore<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        lines: &[OrderLine],
        total_cents: i64,
        payment: &PaymentMethod,
        address: &Address,
        at: i64,
    ) -> QueryResult<Order> {
        diesel::insert_into(orders::table)
            .values((
                orders::id.eq(id.to_string()),
                orders::user_id.eq(user_id.to_string()),
                orders::status.eq(OrderStatus::Pending.as_str()),
                orders::lines.eq(json(lines)),
                orders::total_cents.eq(total_cents),
                orders::currency.eq(crate::actors::wallets::CURRENCY),
                orders::payment.eq(json(payment)),
                orders::shipping_address.eq(json(address)),
                orders::created_at.eq(at),
                orders::updated_at.eq(at),
            ))
            .execute(self.0)?;
        Ok(self.get(id)?.expect("just inserted"))
    }

    pub fn get(&mut self, id: Uuid) -> QueryResult<Option<Order>> {
        orders::table
            .find(id.to_string())
            .first::<Row>(self.0)
            .optional()?
            .map(parse)
            .transpose()
    }

    /// Moves the saga: new status (and optionally a reason or tracking).
    pub fn set_status(
        &mut self,
        id: Uuid,
        status: OrderStatus,
        reason: Option<&str>,
        at: i64,
    ) -> QueryResult<Order> {
        let target = orders::table.find(id.to_string());
        diesel::update(target)
            .set((
                orders::status.eq(status.as_str()),
                orders::updated_at.eq(at),
            ))
            .execute(self.0)?;
        if let Some(r) = reason {
            diesel::update(orders::table.find(id.to_string()))
                .set(orders::failure_reason.eq(r))
                .execute(self.0)?;
        }
        Ok(self.get(id)?.expect("exists"))
    }

    pub fn set_tracking(&mut self, id: Uuid, carrier: &str, tracking: &str) -> QueryResult<()> {
        diesel::update(orders::table.find(id.to_string()))
            .set((
                orders::carrier.eq(carrier),
                orders::tracking_number.eq(tracking),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// Newest first; everyone's for `None`.
    pub fn list(&mut self, user: Option<Uuid>, page: Page) -> QueryResult<Paged<OrderView>> {
        let mut count = orders::table.into_boxed();
        let mut rows = orders::table.into_boxed();
        if let Some(u) = user {
            count = count.filter(orders::user_id.eq(u.to_string()));
            rows = rows.filter(orders::user_id.eq(u.to_string()));
        }
        let total: i64 = count.count().get_result(self.0)?;
        let rows: Vec<Row> = rows
            .order((orders::created_at.desc(), orders::id.desc()))
            .offset(page.offset())
            .limit(page.limit())
            .load(self.0)?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(|r| parse(r).map(|o| o.view))
                .collect::<QueryResult<_>>()?,
            page: page.page,
            page_size: page.page_size,
            total: total as u64,
        })
    }
}

/// A JSON column's text.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("order columns serialize")
}
