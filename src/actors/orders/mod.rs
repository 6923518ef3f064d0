//! `orders`: orders and the saga that drives each one, persisted in
//! `orders.db`: reserve stock (`inventory`) → charge (`payments`) → create
//! the shipment (`shipping`) → commit stock → `confirmed`. A failed step
//! compensates (release stock, refund) and the order ends `failed` with
//! its reason. Every step is a journaled envelope and every reply comes
//! back as one, so the saga resumes wherever any actor — or the node — died.
//!
//! Publishes `order.created|paid|confirmed|cancelled|failed|status_changed`.
mod messages;
mod saga;
mod store;

pub use messages::*;
pub use saga::{place, CardInput, ItemRequest, OrderError, Orders, PaymentInput, PlaceRequest};
