//! `cart`: one cart per user, priced from the catalog's events; cleared by
//! `order.created` (when the order was placed from the cart).
//!
//! The cart keeps its own replica of the catalog's titles and prices from
//! `catalog.product.*`, so a cart always shows the *current* price. A
//! product deleted from the catalog disappears from every cart. A deleted
//! user's cart is dropped (`user.deleted`).
//!
//! Rules: a line holds 1 to 1000 units (a quantity outside that is 422; an
//! add that would take a line past 1000 is 409); a cart holds at most 100
//! lines (409 past that); only products the catalog has can be added (404).
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    catalog::{valid_sku, ProductCreated, ProductDeleted, ProductUpdated},
    orders::OrderCreated,
    users::UserDeleted,
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::Problem,
};

pub use store::CartStore;

pub const CURRENCY: &str = "USD";
/// Most units of one sku in a cart.
pub const MAX_QUANTITY: i64 = 1000;
/// Most lines in a cart (an order holds at most 100 lines).
pub const MAX_LINES: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    #[error("quantity must be between 1 and {MAX_QUANTITY}")]
    InvalidQuantity,
    #[error("quantity must be between 1 and {MAX_QUANTITY}; to remove an item, DELETE /cart/items/{{sku}}")]
    ZeroQuantity,
    #[error("sku must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' and '.'")]
    InvalidSku,
    #[error("no product with sku {0:?}")]
    UnknownProduct(String),
    #[error("{0:?} is not in your cart")]
    NotInCart(String),
    #[error("a cart line holds at most {MAX_QUANTITY} units; you have {have} of {sku:?}")]
    LineFull { sku: String, have: i64 },
    #[error("a cart holds at most {MAX_LINES} different products")]
    CartFull,
}

impl From<CartError> for Problem {
    fn from(e: CartError) -> Self {
        use CartError::*;
        match e {
            InvalidQuantity | ZeroQuantity | InvalidSku => Problem::invalid(e.to_string()),
            UnknownProduct(_) | NotInCart(_) => Problem::not_found(e.to_string()),
            LineFull { .. } | CartFull => Problem::conflict(e.to_string()),
        }
    }
}

impl From<CartError> for Failure {
    fn from(e: CartError) -> Self {
        Failure::Rejected(e.into())
    }
}

/// One line of a cart, at the current price.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CartItem {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    /// quantity × unit_price_cents
    pub line_total_cents: i64,
}

/// A user's cart (empty when nothing was added).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CartView {
    pub items: Vec<CartItem>,
    pub total_cents: i64,
    pub currency: String,
}

fn check_quantity(quantity: i64) -> Result<(), CartError> {
    match quantity {
        0 => Err(CartError::ZeroQuantity),
        q if (1..=MAX_QUANTITY).contains(&q) => Ok(()),
        _ => Err(CartError::InvalidQuantity),
    }
}

// ---- messages ----------------------------------------------------------

/// Adds `quantity` units of `sku` (to what is already there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddItem {
    pub user_id: Uuid,
    pub sku: String,
    pub quantity: i64,
}
impl crate::mom::Message for AddItem {
    type To = Cart;
    const KIND: &'static str = "add_item";
    type Reply = CartView;
    fn validate(&self) -> Result<(), Problem> {
        if !valid_sku(&self.sku) {
            return Err(CartError::InvalidSku.into());
        }
        if !(1..=MAX_QUANTITY).contains(&self.quantity) {
            return Err(CartError::InvalidQuantity.into());
        }
        Ok(())
    }
}
impl Command for AddItem {}
impl crate::mom::Handles<AddItem> for Cart {}

/// Sets the quantity of a line already in the cart (1..=1000; remove with
/// [`RemoveItem`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetQuantity {
    pub user_id: Uuid,
    pub sku: String,
    pub quantity: i64,
}
impl crate::mom::Message for SetQuantity {
    type To = Cart;
    const KIND: &'static str = "set_quantity";
    type Reply = CartView;
    fn validate(&self) -> Result<(), Problem> {
        check_quantity(self.quantity)?;
        if !valid_sku(&self.sku) {
            return Err(CartError::NotInCart(self.sku.clone()).into());
        }
        Ok(())
    }
}
impl Command for SetQuantity {}
impl crate::mom::Handles<SetQuantity> for Cart {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveItem {
    pub user_id: Uuid,
    pub sku: String,
}
impl crate::mom::Message for RemoveItem {
    type To = Cart;
    const KIND: &'static str = "remove_item";
    type Reply = CartView;
    fn validate(&self) -> Result<(), Problem> {
        if !valid_sku(&self.sku) {
            return Err(CartError::NotInCart(self.sku.clone()).into());
        }
        Ok(())
    }
}
impl Command for RemoveItem {}
impl crate::mom::Handles<RemoveItem> for Cart {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClearCart {
    pub user_id: Uuid,
}
impl crate::mom::Message for ClearCart {
    type To = Cart;
    const KIND: &'static str = "clear_cart";
    type Reply = CartView;
}
impl Command for ClearCart {}
impl crate::mom::Handles<ClearCart> for Cart {}

/// The user's cart at current prices (`orders::place` prices orders with it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetCart {
    pub user_id: Uuid,
}
impl crate::mom::Message for GetCart {
    type To = Cart;
    const KIND: &'static str = "get_cart";
    type Reply = CartView;
}
impl Query for GetCart {}
impl crate::mom::Handles<GetCart> for Cart {}

// ---- the actor -----------------------------------------------------------

#[derive(Debug, Default)]
pub struct Cart;

impl crate::mom::Destination for Cart {
    const NAME: &'static str = "cart";
}

impl Service for Cart {
    const SUBSCRIPTIONS: &'static [&'static str] =
        &["catalog.product.#", OrderCreated::TOPIC, UserDeleted::TOPIC];

    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = CartStore(conn);
        let at = msg.created_at;
        match msg.kind {
            AddItem::KIND => {
                let cmd: AddItem = msg.decode()?;
                cmd.validate()?;
                if !store.knows(&cmd.sku)? {
                    return Err(CartError::UnknownProduct(cmd.sku).into());
                }
                match store.quantity(cmd.user_id, &cmd.sku)? {
                    Some(have) => {
                        let want = have + cmd.quantity;
                        if want > MAX_QUANTITY {
                            return Err(CartError::LineFull { sku: cmd.sku, have }.into());
                        }
                        store.set_quantity(cmd.user_id, &cmd.sku, want, at)?;
                    }
                    None => {
                        if store.lines(cmd.user_id)? >= MAX_LINES {
                            return Err(CartError::CartFull.into());
                        }
                        store.add_line(cmd.user_id, &cmd.sku, cmd.quantity, at)?;
                    }
                }
                Effects::reply(&store.view(cmd.user_id)?)
            }
            SetQuantity::KIND => {
                let cmd: SetQuantity = msg.decode()?;
                cmd.validate()?;
                if store.quantity(cmd.user_id, &cmd.sku)?.is_none() {
                    return Err(CartError::NotInCart(cmd.sku).into());
                }
                store.set_quantity(cmd.user_id, &cmd.sku, cmd.quantity, at)?;
                Effects::reply(&store.view(cmd.user_id)?)
            }
            RemoveItem::KIND => {
                let cmd: RemoveItem = msg.decode()?;
                if store.quantity(cmd.user_id, &cmd.sku)?.is_none() {
                    return Err(CartError::NotInCart(cmd.sku).into());
                }
                store.remove_line(cmd.user_id, &cmd.sku)?;
                Effects::reply(&store.view(cmd.user_id)?)
            }
            ClearCart::KIND => {
                let cmd: ClearCart = msg.decode()?;
                store.clear(cmd.user_id)?;
                Effects::reply(&store.view(cmd.user_id)?)
            }
            GetCart::KIND => {
                let q: GetCart = msg.decode()?;
                Effects::reply(&store.view(q.user_id)?)
            }
            ProductCreated::TOPIC => {
                let e: ProductCreated = msg.decode()?;
                let p = e.product;
                store.upsert_product(&p.sku, &p.title, p.price_cents, at)?;
                Effects::reply(&())
            }
            ProductUpdated::TOPIC => {
                let e: ProductUpdated = msg.decode()?;
                let p = e.product;
                store.upsert_product(&p.sku, &p.title, p.price_cents, at)?;
                Effects::reply(&())
            }
            ProductDeleted::TOPIC => {
                let e: ProductDeleted = msg.decode()?;
                store.delete_product(&e.sku)?;
                Effects::reply(&())
            }
            OrderCreated::TOPIC => {
                let e: OrderCreated = msg.decode()?;
                if e.from_cart {
                    store.clear(e.order.user_id)?;
                }
                Effects::reply(&())
            }
            UserDeleted::TOPIC => {
                let e: UserDeleted = msg.decode()?;
                store.clear(e.user_id)?;
                Effects::reply(&())
            }
            // Any other catalog.product.* event (a later addition): nothing to do.
            other if other.starts_with("catalog.product.") => Effects::reply(&()),
            other => Err(Problem::bad_request(format!("cart does not handle `{other}`")).into()),
        }
    }
}
