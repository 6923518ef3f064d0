//! The orders actor: the saga's state machine. Each handler reads the
//! order, moves its status one step, and returns the next step's command
//! (`Effects::send`) — journaled by the MOM together with this message's
//! completion, so a step is sent exactly once and survives any crash.
//!
//! ```text
//! pending ──StockReserved──► reserved ──PaymentSucceeded──► paid ──ShipmentCreated──► confirmed
//!    │ StockUnavailable          │ PaymentFailed (Release)                               │ admin
//!    ▼                           ▼                                                       ▼
//!  failed                      failed                                     shipped ──► delivered
//! ```
//! Cancel (owner or admin, until shipped) compensates what is done so far;
//! a reply that arrives for an order cancelled meanwhile compensates its own
//! step (a late reservation is released, a late charge refunded, a late
//! shipment cancelled).
#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::collections::BTreeMap;

use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    messages::*,
    store::{Order, OrderStore},
};
use crate::{
    actors::{
        cart::GetCart,
        catalog::PriceList,
        inventory::{self, Line},
        payments::{self, Charge, Refund},
        shipping::{CancelShipment, CreateShipment, SetShipmentStatus},
        Effects, Failure, Incoming, Service,
    },
    mom::{ExecOptions, Executed, Mom, MomError},
    problem::Problem,
};

/// A line as a client asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// A catalog sku (404 if none has it).
    pub sku: String,
    /// 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

/// A card as a client sends it; it never leaves the edge's memory:
/// [`place`] turns it into a [`CardToken`].
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// 12 to 19 digits passing the Luhn check; spaces and dashes are ignored.
    #[schema(pattern = "^[ -]*(?:[0-9][ -]*){12,19}$")]
    pub number: String,
    /// MM/YY, not past.
    #[schema(pattern = "^[0-9]{2}/[0-9]{2}$")]
    pub expiry: String,
    /// 3 or 4 digits.
    #[schema(pattern = "^[0-9]{3,4}$")]
    pub cvv: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput { .. }")
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    /// "card" (with `card`) or "wallet" (without).
    #[schema(pattern = "^(card|wallet)$")]
    pub method: String,
    pub card: Option<CardInput>,
}

/// `POST /orders` (and gRPC PlaceOrder), before pricing.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceRequest {
    /// Defaults to the caller's cart. 1 to 100 lines (the same sku twice
    /// is one line).
    #[schema(min_items = 1, max_items = 100)]
    pub items: Option<Vec<ItemRequest>>,
    pub payment: PaymentInput,
    pub shipping_address: Address,
}

fn payment_method(p: &PaymentInput) -> Result<PaymentMethod, Problem> {
    match (p.method.as_str(), &p.card) {
        ("card", Some(c)) => Ok(PaymentMethod::Card {
            card: payments::tokenize(&c.number, &c.expiry, &c.cvv)?,
        }),
        ("card", None) => Err(Problem::invalid(
            "payment.card is required for card payments",
        )),
        ("wallet", None) => Ok(PaymentMethod::Wallet),
        ("wallet", Some(_)) => Err(Problem::invalid("a wallet payment takes no card")),
        (other, _) => Err(Problem::invalid(format!(
            "payment.method must be \"card\" or \"wallet\", not {other:?}"
        ))),
    }
}

/// Prices the lines (from the cart when none are given), tokenizes the card,
/// and places the order. Card numbers and CVVs stop here: the journal only
/// ever sees the token.
pub async fn place(
    mom: &Mom,
    user_id: Uuid,
    req: PlaceRequest,
    opts: ExecOptions,
) -> Result<Executed<OrderView>, MomError> {
    let payment = payment_method(&req.payment)?;
    req.shipping_address.validate()?;
    let (items, from_cart) = match req.items {
        Some(items) => (items, false),
        None => {
            let cart = mom
                .ask(&GetCart { user_id }, opts.wait.max(MIN_ASK))
                .await?;
            let items = cart
                .items
                .into_iter()
                .map(|i| ItemRequest {
                    sku: i.sku,
                    quantity: i.quantity,
                })
                .collect();
            (items, true)
        }
    };
    if items.is_empty() {
        return Err(Problem::invalid(if from_cart {
            "your cart is empty; give items or add some to the cart"
        } else {
            "an order needs at least one item"
        })
        .into());
    }
    // Same sku twice is one line.
    let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
    for i in &items {
        if !(1..=1000).contains(&i.quantity) {
            return Err(Problem::invalid("quantity must be between 1 and 1000").into());
        }
        *wanted.entry(i.sku.clone()).or_default() += i.quantity;
    }
    let skus: Vec<String> = wanted.keys().cloned().collect();
    let products = mom.ask(&PriceList { skus }, opts.wait.max(MIN_ASK)).await?;
    let mut lines = Vec::with_capacity(wanted.len());
    for (sku, quantity) in wanted {
        let p = products
            .iter()
            .find(|p| p.sku == sku)
            .ok_or_else(|| Problem::not_found(format!("no product with sku {sku:?}")))?;
        lines.push(OrderLine {
            sku,
            title: p.title.clone(),
            quantity,
            unit_price_cents: p.price_cents,
        });
    }
    let cmd = PlaceOrder {
        user_id,
        lines,
        payment,
        shipping_address: req.shipping_address,
        from_cart,
    };
    mom.execute(&cmd, opts).await
}

/// Reads inside `place` get at least this long.
const MIN_ASK: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("no such order")]
    NotFound,
    #[error("order is {0}; {1}")]
    Conflict(&'static str, &'static str),
}

impl From<OrderError> for Failure {
    fn from(e: OrderError) -> Self {
        Failure::Rejected(match e {
            OrderError::NotFound => Problem::not_found(e.to_string()),
            OrderError::Conflict(..) => Problem::conflict(e.to_string()),
        })
    }
}

fn lines_of(order: &Order) -> Vec<Line> {
    order
        .view
        .lines
        .iter()
        .map(|l| Line {
            sku: l.sku.clone(),
            quantity: l.quantity,
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Orders;

impl Orders {
    /// A saga reply for an order that is gone is a bug elsewhere: record it
    /// (never retry it forever).
    fn load(store: &mut OrderStore<'_>, id: Uuid) -> Result<Order, Failure> {
        store.get(id)?.ok_or_else(|| OrderError::NotFound.into())
    }

    fn fail(
        store: &mut OrderStore<'_>,
        order: &Order,
        reason: &str,
        at: i64,
    ) -> Result<Effects, Failure> {
        let o = store.set_status(order.view.id, OrderStatus::Failed, Some(reason), at)?;
        tracing::info!(order = %o.view.id, %reason, "order failed");
        Ok(Effects::reply(&())?.publish(&OrderFailed {
            order_id: o.view.id,
            user_id: o.view.user_id,
            reason: reason.to_owned(),
        }))
    }
}

impl crate::mom::Destination for Orders {
    const NAME: &'static str = NAME;
}

impl Service for Orders {
    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = OrderStore(conn);
        let at = msg.created_at;
        match msg.kind {
            PlaceOrder::KIND => {
                let cmd: PlaceOrder = msg.decode()?;
                cmd.validate()?;
                let total = cmd
                    .lines
                    .iter()
                    .try_fold(0i64, |t, l| {
                        l.quantity
                            .checked_mul(l.unit_price_cents)
                            .and_then(|x| t.checked_add(x))
                    })
                    .ok_or_else(|| Problem::invalid("order total is too large"))?;
                let order = store.insert(
                    msg.id,
                    cmd.user_id,
                    &cmd.lines,
                    total,
                    &cmd.payment,
                    &cmd.shipping_address,
                    at,
                )?;
                let reserve = inventory::Reserve {
                    order_id: msg.id,
                    lines: lines_of(&order),
                };
                Ok(Effects::reply(&order.view)?
                    .publish(&OrderCreated {
                        order: order.view.clone(),
                        from_cart: cmd.from_cart,
                    })
                    .send(&reserve))
            }
            StockReserved::KIND => {
                let r: StockReserved = msg.decode()?;
                let order = Self::load(&mut store, r.order_id)?;
                match order.view.status {
                    OrderStatus::Pending => {
                        let o = store.set_status(r.order_id, OrderStatus::Reserved, None, at)?;
                        Ok(Effects::reply(&())?.send(&Charge {
                            order_id: r.order_id,
                            user_id: o.view.user_id,
                            amount_cents: o.view.total_cents,
                            method: o.payment.clone(),
                        }))
                    }
                    // Cancelled while reserving: give the stock back.
                    OrderStatus::Cancelled => Ok(Effects::reply(&())?.send(&inventory::Release {
                        order_id: r.order_id,
                    })),
                    _ => Effects::reply(&()),
                }
            }
            StockUnavailable::KIND => {
                let r: StockUnavailable = msg.decode()?;
                let order = Self::load(&mut store, r.order_id)?;
                match order.view.status {
                    OrderStatus::Pending => Self::fail(&mut store, &order, &r.reason, at),
                    _ => Effects::reply(&()),
                }
            }
            PaymentSucceeded::KIND => {
                let r: PaymentSucceeded = msg.decode()?;
                let order = Self::load(&mut store, r.order_id)?;
                match order.view.status {
                    OrderStatus::Reserved => {
                        let o = store.set_status(r.order_id, OrderStatus::Paid, None, at)?;
                        Ok(Effects::reply(&())?
                            .publish(&OrderPaid {
                                order_id: r.order_id,
                                user_id: o.view.user_id,
                                total_cents: o.view.total_cents,
                            })
                            .send(&CreateShipment {
                                order_id: r.order_id,
                                user_id: o.view.user_id,
                                address: o.view.shipping_address.clone(),
                            }))
                    }
                    // Cancelled while charging: the stock went back at the
                    // cancel; the money goes back now.
                    OrderStatus::Cancelled => Ok(Effects::reply(&())?.send(&Refund {
                        order_id: r.order_id,
                    })),
                    _ => Effects::reply(&()),
                }
            }
            PaymentFailed::KIND => {
                let r: PaymentFailed = msg.decode()?;
                let order = Self::load(&mut store, r.order_id)?;
                match order.view.status {
                    OrderStatus::Reserved => Ok(Self::fail(
                        &mut store,
                        &order,
                        &format!("payment failed: {}", r.reason),
                        at,
                    )?
                    .send(&inventory::Release {
                        order_id: r.order_id,
                    })),
                    _ => Effects::reply(&()),
                }
            }
            ShipmentCreated::KIND => {
                let r: ShipmentCreated = msg.decode()?;
                let order = Self::load(&mut store, r.order_id)?;
                match order.view.status {
                    OrderStatus::Paid => {
                        store.set_tracking(r.order_id, &r.carrier, &r.tracking_number)?;
                        let o = store.set_status(r.order_id, OrderStatus::Confirmed, None, at)?;
                        tracing::info!(order = %r.order_id, total = o.view.total_cents, "order confirmed");
                        Ok(Effects::reply(&())?
                            .publish(&OrderConfirmed {
                                order: o.view.clone(),
                                confirmed_at_ms: at,
                            })
                            .send(&inventory::Commit {
                                order_id: r.order_id,
                            }))
                    }
                    OrderStatus::Cancelled => Ok(Effects::reply(&())?.send(&CancelShipment {
                        order_id: r.order_id,
                    })),
                    _ => Effects::reply(&()),
                }
            }
            CancelOrder::KIND => {
                let c: CancelOrder = msg.decode()?;
                let order = store
                    .get(c.order_id)?
                    .filter(|o| c.admin || o.view.user_id == c.user_id)
                    .ok_or(OrderError::NotFound)?;
                let id = c.order_id;
                let was_confirmed = order.view.status == OrderStatus::Confirmed;
                // What is done so far is undone now; a step still in flight
                // undoes itself when its reply finds the order cancelled.
                let mut effects = Effects::default();
                match order.view.status {
                    OrderStatus::Pending => {}
                    OrderStatus::Reserved => {
                        effects = effects.send(&inventory::Release { order_id: id });
                    }
                    OrderStatus::Paid => {
                        effects = effects
                            .send(&inventory::Release { order_id: id })
                            .send(&Refund { order_id: id });
                    }
                    OrderStatus::Confirmed => {
                        effects = effects
                            .send(&inventory::Restock { order_id: id })
                            .send(&Refund { order_id: id })
                            .send(&CancelShipment { order_id: id });
                    }
                    s @ (OrderStatus::Shipped
                    | OrderStatus::Delivered
                    | OrderStatus::Cancelled
                    | OrderStatus::Failed) => {
                        return Err(OrderError::Conflict(
                            s.as_str(),
                            "it can no longer be cancelled",
                        )
                        .into());
                    }
                }
                let o = store.set_status(id, OrderStatus::Cancelled, None, at)?;
                let mut done = Effects::reply(&o.view)?.publish(&OrderCancelled {
                    order: o.view.clone(),
                    was_confirmed,
                });
                done.send = effects.send;
                Ok(done)
            }
            SetOrderStatus::KIND => {
                let c: SetOrderStatus = msg.decode()?;
                let order = Self::load(&mut store, c.order_id)?;
                let shipment = match (order.view.status, c.status) {
                    (OrderStatus::Confirmed, OrderStatus::Shipped) => "dispatched",
                    (OrderStatus::Shipped, OrderStatus::Delivered) => "delivered",
                    (from, _) => {
                        return Err(OrderError::Conflict(
                            from.as_str(),
                            "only confirmed → shipped → delivered can be set",
                        )
                        .into())
                    }
                };
                let o = store.set_status(c.order_id, c.status, None, at)?;
                Ok(Effects::reply(&o.view)?
                    .publish(&OrderStatusChanged {
                        order_id: c.order_id,
                        user_id: o.view.user_id,
                        status: c.status,
                    })
                    .send(&SetShipmentStatus {
                        order_id: c.order_id,
                        status: shipment.into(),
                    }))
            }
            GetOrder::KIND => {
                let q: GetOrder = msg.decode()?;
                let order = store
                    .get(q.order_id)?
                    .filter(|o| q.admin || o.view.user_id == q.user_id)
                    .ok_or(OrderError::NotFound)?;
                Effects::reply(&order.view)
            }
            ListOrders::KIND => {
                let q: ListOrders = msg.decode()?;
                let user = (!q.admin).then_some(q.user_id);
                Effects::reply(&store.list(user, q.page)?)
            }
            other => Err(Problem::bad_request(format!("orders does not handle `{other}`")).into()),
        }
    }
}
