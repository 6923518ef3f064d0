//! `payments`: card payments (simulated network: Luhn, expiry, CVV checked
//! at the edge by [`tokenize`]; the test card `4000000000000002` is always
//! declined) and wallet payments (debited through `wallets`). One payment
//! per order, refunded on compensation. Publishes `payment.*`.
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    orders::{CardToken, PaymentMethod},
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::Problem,
};

/// Always declined by the simulated card network.
pub const DECLINED_TEST_CARD: &str = "4000000000000002";

/// Validates a card (Luhn, MM/YY not expired, 3-4 digit CVV) and returns the
/// token that travels instead of it. Pure; both edges and `orders::place`
/// call it before anything is journaled.
pub fn tokenize(number: &str, expiry: &str, cvv: &str) -> Result<CardToken, Problem> {
    let _ = (number, expiry, cvv);
    Err(Problem::invalid("card payments are not implemented yet"))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PaymentView {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    /// "card" or "wallet"
    pub method: String,
    /// "captured", "declined", "refunded"
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Result of `POST /payments/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CardCheck {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---- saga messages -------------------------------------------------------------

/// Charge an order once (idempotent per order). Replies
/// `orders::PaymentSucceeded` or `orders::PaymentFailed` — for wallet
/// payments after `wallets` answers `WalletDebited` / `WalletDebitFailed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub method: PaymentMethod,
}
impl Command for Charge {
    const DESTINATION: &'static str = Payments::NAME;
    const KIND: &'static str = "charge";
    type Reply = ();
}

/// Refund an order's captured payment (no-op if none or already refunded).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: Uuid,
}
impl Command for Refund {
    const DESTINATION: &'static str = Payments::NAME;
    const KIND: &'static str = "refund";
    type Reply = ();
}

/// From `wallets`: the debit for `order_id` went through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletDebited {
    pub order_id: Uuid,
}
impl Command for WalletDebited {
    const DESTINATION: &'static str = Payments::NAME;
    const KIND: &'static str = "wallet_debited";
    type Reply = ();
}

/// From `wallets`: the debit for `order_id` was refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletDebitFailed {
    pub order_id: Uuid,
    pub reason: String,
}
impl Command for WalletDebitFailed {
    const DESTINATION: &'static str = Payments::NAME;
    const KIND: &'static str = "wallet_debit_failed";
    type Reply = ();
}

// ---- edge queries ------------------------------------------------------------------

/// Checks a card without charging it. (Not journaled: a query.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateCard {
    pub number: String,
    pub expiry: String,
    pub cvv: String,
}
impl Query for ValidateCard {
    const DESTINATION: &'static str = Payments::NAME;
    const KIND: &'static str = "validate_card";
    type Reply = CardCheck;
}

/// The payment of an order (owner or admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetPayment {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub admin: bool,
}
impl Query for GetPayment {
    const DESTINATION: &'static str = Payments::NAME;
    const KIND: &'static str = "get_payment";
    type Reply = PaymentView;
}

// ---- events ----------------------------------------------------------------------------

/// `payment.captured`, `payment.declined` and `payment.refunded` share one payload.
pub const PAYMENT_CAPTURED: &str = "payment.captured";
pub const PAYMENT_DECLINED: &str = "payment.declined";
pub const PAYMENT_REFUNDED: &str = "payment.refunded";

/// An event type per topic, so `Effects::publish` can name it.
macro_rules! payment_event {
    ($name:ident, $topic:expr) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub struct $name(pub PaymentView);
        impl Event for $name {
            const TOPIC: &'static str = $topic;
        }
    };
}
payment_event!(PaymentCaptured, PAYMENT_CAPTURED);
payment_event!(PaymentDeclined, PAYMENT_DECLINED);
payment_event!(PaymentRefunded, PAYMENT_REFUNDED);

#[derive(Debug, Default)]
pub struct Payments;

impl Service for Payments {
    const NAME: &'static str = "payments";

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("payments does not handle `{}`", msg.kind)).into())
    }
}
