//! `shipping`: one shipment per order (carrier + tracking number), created
//! by the order saga; created → dispatched → delivered. Publishes
//! `shipment.created|dispatched|delivered`.
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{orders::Address, Effects, Failure, Incoming, Service};
use crate::{
    mom::{Command, Event, Query},
    problem::Problem,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ShipmentView {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    /// "created", "dispatched", "delivered" or "cancelled"
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Saga step: create the order's shipment (idempotent per order). Replies
/// `orders::ShipmentCreated`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateShipment {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub address: Address,
}
impl Command for CreateShipment {
    const DESTINATION: &'static str = Shipping::NAME;
    const KIND: &'static str = "create_shipment";
    type Reply = ();
}

/// From `orders` (admin status changes): "dispatched" or "delivered".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetShipmentStatus {
    pub order_id: Uuid,
    pub status: String,
}
impl Command for SetShipmentStatus {
    const DESTINATION: &'static str = Shipping::NAME;
    const KIND: &'static str = "set_shipment_status";
    type Reply = ();
}

/// From `orders` (a cancelled order): the shipment will not leave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelShipment {
    pub order_id: Uuid,
}
impl Command for CancelShipment {
    const DESTINATION: &'static str = Shipping::NAME;
    const KIND: &'static str = "cancel_shipment";
    type Reply = ();
}

/// `GET /shipments/{order_id}` (owner or admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetShipment {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub admin: bool,
}
impl Query for GetShipment {
    const DESTINATION: &'static str = Shipping::NAME;
    const KIND: &'static str = "get_shipment";
    type Reply = ShipmentView;
}

macro_rules! shipment_event {
    ($name:ident, $topic:expr) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub struct $name(pub ShipmentView);
        impl Event for $name {
            const TOPIC: &'static str = $topic;
        }
    };
}
shipment_event!(ShipmentCreatedEvent, "shipment.created");
shipment_event!(ShipmentDispatched, "shipment.dispatched");
shipment_event!(ShipmentDelivered, "shipment.delivered");

#[derive(Debug, Default)]
pub struct Shipping;

impl Service for Shipping {
    const NAME: &'static str = "shipping";

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("shipping does not handle `{}`", msg.kind)).into())
    }
}
