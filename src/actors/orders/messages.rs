//! The orders contract: its views, the commands it accepts (from the edges
//! and, as saga replies, from other services) and the events it publishes.
use super::Orders;
#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    mom::{Command, Event, Query},
    problem::{Page, Paged, Problem},
};

pub const NAME: &str = "orders";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Reserved,
    Paid,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Failed,
}

impl OrderStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Reserved => "reserved",
            Self::Paid => "paid",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
    /// Terminal or stable: the saga has nothing left to do.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Self::Confirmed | Self::Shipped | Self::Delivered | Self::Cancelled | Self::Failed
        )
    }
}

/// One priced line of an order (price snapshot at order time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
/// Every field: 1 to 200 characters once trimmed (`line2` may be blank),
/// no control characters (422 otherwise).
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

impl Address {
    pub fn validate(&self) -> Result<(), Problem> {
        let fields = [
            ("name", Some(&self.name)),
            ("line1", Some(&self.line1)),
            ("line2", self.line2.as_ref()),
            ("city", Some(&self.city)),
            ("postal_code", Some(&self.postal_code)),
            ("country", Some(&self.country)),
        ];
        for (field, value) in fields {
            let Some(v) = value else { continue };
            let n = v.trim().chars().count();
            if (field != "line2" && n == 0) || n > 200 || v.chars().any(char::is_control) {
                return Err(Problem::invalid(format!(
                    "shipping_address.{field} must be 1 to 200 printable characters"
                )));
            }
        }
        Ok(())
    }
}

/// A card as it travels through the MOM: never the number or the CVV.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CardToken {
    pub last4: String,
    /// MM/YY
    pub expiry: String,
    /// SHA-256 of the number (hex, truncated): what the simulated network
    /// authorizes.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PaymentMethod {
    Card { card: CardToken },
    Wallet,
}

impl PaymentMethod {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Card { .. } => "card",
            Self::Wallet => "wallet",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub currency: String,
    /// "card" or "wallet"
    pub payment_method: String,
    pub shipping_address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

// ---- edge commands and queries ----------------------------------------------

/// Creates an order (its id is the envelope id) and starts its saga. Built
/// by [`super::place`], which prices the lines and tokenizes the card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub user_id: Uuid,
    pub lines: Vec<OrderLine>,
    pub payment: PaymentMethod,
    pub shipping_address: Address,
    /// The lines came from the cart (which `order.created` then clears).
    pub from_cart: bool,
}
impl crate::mom::Message for PlaceOrder {
    type To = Orders;
    const KIND: &'static str = "place_order";
    type Reply = OrderView;
    fn validate(&self) -> Result<(), Problem> {
        if self.lines.is_empty() || self.lines.len() > 100 {
            return Err(Problem::invalid("an order has 1 to 100 lines"));
        }
        if self.lines.iter().any(|l| !(1..=1000).contains(&l.quantity)) {
            return Err(Problem::invalid("quantity must be between 1 and 1000"));
        }
        self.shipping_address.validate()
    }
}
impl Command for PlaceOrder {}
impl crate::mom::Handles<PlaceOrder> for Orders {}

/// Owner (or admin) cancels: allowed until the order ships; compensates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelOrder {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub admin: bool,
}
impl crate::mom::Message for CancelOrder {
    type To = Orders;
    const KIND: &'static str = "cancel_order";
    type Reply = OrderView;
}
impl Command for CancelOrder {}
impl crate::mom::Handles<CancelOrder> for Orders {}

/// Admin: confirmed → shipped → delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetOrderStatus {
    pub order_id: Uuid,
    pub status: OrderStatus,
}
impl crate::mom::Message for SetOrderStatus {
    type To = Orders;
    const KIND: &'static str = "set_order_status";
    type Reply = OrderView;
}
impl Command for SetOrderStatus {}
impl crate::mom::Handles<SetOrderStatus> for Orders {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetOrder {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub admin: bool,
}
impl crate::mom::Message for GetOrder {
    type To = Orders;
    const KIND: &'static str = "get_order";
    type Reply = OrderView;
}
impl Query for GetOrder {}
impl crate::mom::Handles<GetOrder> for Orders {}

/// The caller's orders, newest first; an admin sees everyone's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListOrders {
    pub user_id: Uuid,
    pub admin: bool,
    pub page: Page,
}
impl crate::mom::Message for ListOrders {
    type To = Orders;
    const KIND: &'static str = "list_orders";
    type Reply = Paged<OrderView>;
}
impl Query for ListOrders {}
impl crate::mom::Handles<ListOrders> for Orders {}

// ---- saga replies (sent by inventory, payments, shipping) -----------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockReserved {
    pub order_id: Uuid,
}
impl crate::mom::Message for StockReserved {
    type To = Orders;
    const KIND: &'static str = "stock_reserved";
    type Reply = ();
}
impl Command for StockReserved {}
impl crate::mom::Handles<StockReserved> for Orders {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockUnavailable {
    pub order_id: Uuid,
    pub reason: String,
}
impl crate::mom::Message for StockUnavailable {
    type To = Orders;
    const KIND: &'static str = "stock_unavailable";
    type Reply = ();
}
impl Command for StockUnavailable {}
impl crate::mom::Handles<StockUnavailable> for Orders {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    pub order_id: Uuid,
}
impl crate::mom::Message for PaymentSucceeded {
    type To = Orders;
    const KIND: &'static str = "payment_succeeded";
    type Reply = ();
}
impl Command for PaymentSucceeded {}
impl crate::mom::Handles<PaymentSucceeded> for Orders {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub order_id: Uuid,
    pub reason: String,
}
impl crate::mom::Message for PaymentFailed {
    type To = Orders;
    const KIND: &'static str = "payment_failed";
    type Reply = ();
}
impl Command for PaymentFailed {}
impl crate::mom::Handles<PaymentFailed> for Orders {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShipmentCreated {
    pub order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
}
impl crate::mom::Message for ShipmentCreated {
    type To = Orders;
    const KIND: &'static str = "shipment_created";
    type Reply = ();
}
impl Command for ShipmentCreated {}
impl crate::mom::Handles<ShipmentCreated> for Orders {}

// ---- events ------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order: OrderView,
    pub from_cart: bool,
}
impl Event for OrderCreated {
    const TOPIC: &'static str = "order.created";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPaid {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub total_cents: i64,
}
impl Event for OrderPaid {
    const TOPIC: &'static str = "order.paid";
}

/// Analytics counts sales from this event only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order: OrderView,
    /// When it was confirmed (ms since the epoch).
    pub confirmed_at_ms: i64,
}
impl Event for OrderConfirmed {
    const TOPIC: &'static str = "order.confirmed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderFailed {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub reason: String,
}
impl Event for OrderFailed {
    const TOPIC: &'static str = "order.failed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order: OrderView,
    /// The cancelled order had been confirmed (so it was counted as a sale).
    pub was_confirmed: bool,
}
impl Event for OrderCancelled {
    const TOPIC: &'static str = "order.cancelled";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
}
impl Event for OrderStatusChanged {
    const TOPIC: &'static str = "order.status_changed";
}
