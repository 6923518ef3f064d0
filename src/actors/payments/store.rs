//! `payments.db`: one row per order.
use diesel::prelude::*;
use uuid::Uuid;

use super::PaymentView;
use crate::problem::rfc3339;

diesel::table! {
    payments (order_id) {
        order_id -> Text,
        user_id -> Text,
        amount_cents -> BigInt,
        currency -> Text,
        method -> Text,
        status -> Text,
        card_last4 -> Nullable<Text>,
        card_fingerprint -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        refund_requested -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

/// A payment's life: `pending` only for a wallet debit in flight.
pub const PENDING: &str = "pending";
pub const CAPTURED: &str = "captured";
pub const DECLINED: &str = "declined";
pub const REFUNDED: &str = "refunded";

#[derive(Debug, Clone, Queryable)]
pub struct Payment {
    pub order_id: String,
    pub user_id: String,
    pub amount_cents: i64,
    pub currency: String,
    pub method: String,
    pub status: String,
    pub card_last4: Option<String>,
    #[allow(dead_code)]
    pub card_fingerprint: Option<String>,
    pub failure_reason: Option<String>,
    pub refund_requested: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    pub fn user(&self) -> Uuid {
        Uuid::parse_str(&self.user_id).unwrap_or_default()
    }

    pub fn order(&self) -> Uuid {
        Uuid::parse_str(&self.order_id).unwrap_or_default()
    }

    pub fn view(&self) -> PaymentView {
        PaymentView {
            order_id: self.order(),
            user_id: self.user(),
            amount_cents: self.amount_cents,
            currency: self.currency.clone(),
            method: self.method.clone(),
            status: self.status.clone(),
            card_last4: self.card_last4.clone(),
            failure_reason: self.failure_reason.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

/// What a new payment starts as.
pub struct NewPayment<'a> {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub currency: &'a str,
    pub method: &'a str,
    pub status: &'a str,
    pub card_last4: Option<&'a str>,
    pub card_fingerprint: Option<&'a str>,
    pub failure_reason: Option<&'a str>,
    pub at: i64,
}

pub struct PaymentStore<'a>(pub &'a mut SqliteConnection);

impl PaymentStore<'_> {
    pub fn get(&mut self, order_id: Uuid) -> QueryResult<Option<Payment>> {
        payments::table
            .find(order_id.to_string())
            .first(self.0)
            .optional()
    }

    pub fn insert(&mut self, p: &NewPayment<'_>) -> QueryResult<Payment> {
        diesel::insert_into(payments::table)
            .values((
                payments::order_id.eq(p.order_id.to_string()),
                payments::user_id.eq(p.user_id.to_string()),
                payments::amount_cents.eq(p.amount_cents),
                payments::currency.eq(p.currency),
                payments::method.eq(p.method),
                payments::status.eq(p.status),
                payments::card_last4.eq(p.card_last4),
                payments::card_fingerprint.eq(p.card_fingerprint),
                payments::failure_reason.eq(p.failure_reason),
                payments::refund_requested.eq(false),
                payments::created_at.eq(p.at),
                payments::updated_at.eq(p.at),
            ))
            .execute(self.0)?;
        self.get(p.order_id)?.ok_or(diesel::result::Error::NotFound)
    }

    /// Moves the payment to `status` (with `reason` for a decline) and
    /// returns it as stored.
    pub fn set_status(
        &mut self,
        order_id: Uuid,
        status: &str,
        reason: Option<&str>,
        at: i64,
    ) -> QueryResult<Payment> {
        diesel::update(payments::table.find(order_id.to_string()))
            .set((
                payments::status.eq(status),
                payments::failure_reason.eq(reason),
                payments::updated_at.eq(at),
            ))
            .execute(self.0)?;
        self.get(order_id)?.ok_or(diesel::result::Error::NotFound)
    }

    /// Remembers that the order wants its money back once the debit lands.
    pub fn request_refund(&mut self, order_id: Uuid, at: i64) -> QueryResult<()> {
        diesel::update(payments::table.find(order_id.to_string()))
            .set((
                payments::refund_requested.eq(true),
                payments::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }
}
