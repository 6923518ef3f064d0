//! `shipping`: one shipment per order (carrier + tracking number), created
//! by the order saga; created → dispatched → delivered. Publishes
//! `shipment.created|dispatched|delivered`.
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    orders::{Address, ShipmentCreated},
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::Problem,
};
use store::{NewShipment, ShipmentStore};

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
impl crate::mom::Message for CreateShipment {
    type To = Shipping;
    const KIND: &'static str = "create_shipment";
    type Reply = ();
}
impl Command for CreateShipment {}
impl crate::mom::Handles<CreateShipment> for Shipping {}

/// From `orders` (admin status changes): "dispatched" or "delivered".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetShipmentStatus {
    pub order_id: Uuid,
    pub status: String,
}
impl crate::mom::Message for SetShipmentStatus {
    type To = Shipping;
    const KIND: &'static str = "set_shipment_status";
    type Reply = ();
    fn validate(&self) -> Result<(), Problem> {
        if [DISPATCHED, DELIVERED].contains(&self.status.as_str()) {
            Ok(())
        } else {
            Err(Problem::invalid(
                "a shipment's status can be set to \"dispatched\" or \"delivered\"",
            ))
        }
    }
}
impl Command for SetShipmentStatus {}
impl crate::mom::Handles<SetShipmentStatus> for Shipping {}

/// From `orders` (a cancelled order): the shipment will not leave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelShipment {
    pub order_id: Uuid,
}
impl crate::mom::Message for CancelShipment {
    type To = Shipping;
    const KIND: &'static str = "cancel_shipment";
    type Reply = ();
}
impl Command for CancelShipment {}
impl crate::mom::Handles<CancelShipment> for Shipping {}

/// `GET /shipments/{order_id}` (owner or admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetShipment {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub admin: bool,
}
impl crate::mom::Message for GetShipment {
    type To = Shipping;
    const KIND: &'static str = "get_shipment";
    type Reply = ShipmentView;
}
impl Query for GetShipment {}
impl crate::mom::Handles<GetShipment> for Shipping {}

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

/// The carriers a shipment can go with (chosen from the order id).
pub const CARRIERS: &[&str] = &["UPS", "FedEx", "DHL", "USPS"];

pub const CREATED: &str = "created";
pub const DISPATCHED: &str = "dispatched";
pub const DELIVERED: &str = "delivered";
pub const CANCELLED: &str = "cancelled";

/// The order's carrier: the same order always ships with the same one.
pub fn carrier_for(order_id: Uuid) -> &'static str {
    CARRIERS[(order_id.as_u128() % CARRIERS.len() as u128) as usize]
}

/// "1Z" + 16 uppercase hex characters derived from the envelope id, so a
/// replay of the same message produces the same number.
pub fn tracking_number_for(envelope_id: Uuid) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(envelope_id.as_bytes());
    format!("1Z{}", hex::encode_upper(&digest[..8]))
}

#[derive(Debug, Default)]
pub struct Shipping;

impl Shipping {
    fn create(store: &mut ShipmentStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: CreateShipment = msg.decode()?;
        let (shipment, created) = match store.get(cmd.order_id)? {
            Some(s) => (s, false),
            None => {
                let address = serde_json::to_string(&cmd.address)
                    .map_err(|e| Failure::Transient(e.to_string()))?;
                let tracking = tracking_number_for(msg.id);
                let s = store.insert(&NewShipment {
                    order_id: cmd.order_id,
                    user_id: cmd.user_id,
                    carrier: carrier_for(cmd.order_id),
                    tracking_number: &tracking,
                    status: CREATED,
                    address: &address,
                    at: msg.created_at,
                })?;
                tracing::info!(order = %cmd.order_id, carrier = %s.carrier, tracking = %s.tracking_number, "shipment created");
                (s, true)
            }
        };
        let fx = Effects::reply(&())?.send(&ShipmentCreated {
            order_id: cmd.order_id,
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
        });
        Ok(if created {
            fx.publish(&ShipmentCreatedEvent(shipment.view()))
        } else {
            fx
        })
    }

    fn set_status(store: &mut ShipmentStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: SetShipmentStatus = msg.decode()?;
        let Some(s) = store.get(cmd.order_id)? else {
            tracing::warn!(order = %cmd.order_id, status = %cmd.status, "status for an unknown shipment; ignored");
            return Effects::reply(&());
        };
        let fx = Effects::reply(&())?;
        match (s.status.as_str(), cmd.status.as_str()) {
            (CREATED, DISPATCHED) => {
                let s = store.set_status(cmd.order_id, DISPATCHED, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, "shipment dispatched");
                Ok(fx.publish(&ShipmentDispatched(s.view())))
            }
            (DISPATCHED, DELIVERED) => {
                let s = store.set_status(cmd.order_id, DELIVERED, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, "shipment delivered");
                Ok(fx.publish(&ShipmentDelivered(s.view())))
            }
            (from, to) if from == to => Ok(fx),
            (from, to) => {
                tracing::warn!(order = %cmd.order_id, from, to, "invalid shipment transition; ignored");
                Ok(fx)
            }
        }
    }

    fn cancel(store: &mut ShipmentStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: CancelShipment = msg.decode()?;
        match store.get(cmd.order_id)? {
            Some(s) if s.status == CREATED => {
                store.set_status(cmd.order_id, CANCELLED, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, "shipment cancelled");
            }
            Some(s) if s.status != CANCELLED => {
                tracing::warn!(order = %cmd.order_id, status = %s.status, "shipment already left; not cancelled");
            }
            _ => {}
        }
        Effects::reply(&())
    }
}

impl crate::mom::Destination for Shipping {
    const NAME: &'static str = "shipping";
}

impl Service for Shipping {
    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = ShipmentStore(conn);
        match msg.kind {
            CreateShipment::KIND => Self::create(&mut store, msg),
            SetShipmentStatus::KIND => Self::set_status(&mut store, msg),
            CancelShipment::KIND => Self::cancel(&mut store, msg),
            GetShipment::KIND => {
                let q: GetShipment = msg.decode()?;
                let s = store
                    .get(q.order_id)?
                    .filter(|s| q.admin || s.user() == q.user_id)
                    .ok_or_else(|| {
                        Problem::not_found(format!("no shipment for order {}", q.order_id))
                    })?;
                Effects::reply(&s.view())
            }
            other => {
                Err(Problem::bad_request(format!("shipping does not handle `{other}`")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::SqliteConnection;
    use uuid::Uuid;

    use super::*;
    use crate::store::{self, Conn};

    const NOW: i64 = 1_795_435_200_000;

    fn db() -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().unwrap();
        let pool = store::open(
            &dir.path().join("shipping.db"),
            store::migrations::SHIPPING,
            1,
        )
        .unwrap();
        let conn = pool.get().unwrap();
        (dir, conn)
    }

    fn run(conn: &mut SqliteConnection, id: Uuid, kind: &str, payload: &str) -> Effects {
        Shipping
            .handle(
                conn,
                &Incoming {
                    id,
                    kind,
                    payload,
                    created_at: NOW,
                },
            )
            .expect("handled")
    }

    fn exec_as<C: Command>(conn: &mut SqliteConnection, id: Uuid, cmd: &C) -> Effects {
        run(conn, id, C::KIND, &serde_json::to_string(cmd).unwrap())
    }

    fn exec<C: Command>(conn: &mut SqliteConnection, cmd: &C) -> Effects {
        exec_as(conn, Uuid::now_v7(), cmd)
    }

    fn get(
        conn: &mut SqliteConnection,
        order_id: Uuid,
        user_id: Uuid,
        admin: bool,
    ) -> Result<ShipmentView, Failure> {
        let q = GetShipment {
            order_id,
            user_id,
            admin,
        };
        Shipping
            .handle(
                conn,
                &Incoming {
                    id: Uuid::nil(),
                    kind: GetShipment::KIND,
                    payload: &serde_json::to_string(&q).unwrap(),
                    created_at: NOW,
                },
            )
            .map(|fx| serde_json::from_value(fx.reply).unwrap())
    }

    fn status(conn: &mut SqliteConnection, order_id: Uuid) -> String {
        get(conn, order_id, Uuid::nil(), true).unwrap().status
    }

    fn create(order_id: Uuid, user_id: Uuid) -> CreateShipment {
        CreateShipment {
            order_id,
            user_id,
            address: Address {
                name: "Ann".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: "Springfield".into(),
                postal_code: "12345".into(),
                country: "US".into(),
            },
        }
    }

    fn created_reply(fx: &Effects) -> ShipmentCreated {
        assert_eq!(fx.send.len(), 1, "{:?}", fx.send);
        assert_eq!(fx.send[0].kind, ShipmentCreated::KIND);
        assert_eq!(fx.send[0].destination, "orders");
        serde_json::from_str(&fx.send[0].payload).unwrap()
    }

    fn topics(fx: &Effects) -> Vec<&str> {
        fx.publish.iter().map(|p| p.topic.as_str()).collect()
    }

    fn set(order_id: Uuid, status: &str) -> SetShipmentStatus {
        SetShipmentStatus {
            order_id,
            status: status.into(),
        }
    }

    #[test]
    fn creating_a_shipment_is_idempotent_and_deterministic() {
        let (_d, mut conn) = db();
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        let envelope = Uuid::now_v7();
        let fx = exec_as(&mut conn, envelope, &create(order, user));
        let reply = created_reply(&fx);
        assert_eq!(reply.order_id, order);
        assert!(CARRIERS.contains(&reply.carrier.as_str()));
        assert_eq!(reply.carrier, carrier_for(order));
        assert_eq!(reply.tracking_number, tracking_number_for(envelope));
        assert_eq!(reply.tracking_number.len(), 18);
        assert!(reply.tracking_number.starts_with("1Z"));
        assert!(reply.tracking_number[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        assert_eq!(topics(&fx), ["shipment.created"]);

        let view = get(&mut conn, order, user, false).unwrap();
        assert_eq!(view.status, "created");
        assert_eq!(view.carrier, reply.carrier);
        assert_eq!(view.tracking_number, reply.tracking_number);

        // The same order again: the same shipment, no new event.
        let again = exec(&mut conn, &create(order, user));
        let r2 = created_reply(&again);
        assert_eq!(
            (r2.carrier, r2.tracking_number),
            (reply.carrier.clone(), reply.tracking_number.clone())
        );
        assert!(again.publish.is_empty());

        // The same envelope on a fresh store (a replay): the same effects.
        let (_d2, mut fresh) = db();
        let replay = exec_as(&mut fresh, envelope, &create(order, user));
        assert_eq!(
            serde_json::to_string(&replay.into_outcome()).unwrap(),
            serde_json::to_string(&fx.into_outcome()).unwrap()
        );

        // Another order, another tracking number.
        let other = created_reply(&exec(&mut conn, &create(Uuid::now_v7(), user)));
        assert_ne!(other.tracking_number, reply.tracking_number);
    }

    #[test]
    fn owner_or_admin_only() {
        let (_d, mut conn) = db();
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        exec(&mut conn, &create(order, user));
        assert!(get(&mut conn, order, user, false).is_ok());
        assert!(get(&mut conn, order, Uuid::now_v7(), true).is_ok());
        for res in [
            get(&mut conn, order, Uuid::now_v7(), false),
            get(&mut conn, Uuid::now_v7(), user, true),
        ] {
            assert!(
                matches!(res, Err(Failure::Rejected(ref p)) if p.kind == crate::problem::ProblemKind::NotFound)
            );
        }
    }

    #[test]
    fn created_then_dispatched_then_delivered_and_nothing_else() {
        let (_d, mut conn) = db();
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        exec(&mut conn, &create(order, user));

        // Skipping a step is a no-op.
        let fx = exec(&mut conn, &set(order, "delivered"));
        assert!(fx.publish.is_empty() && fx.send.is_empty());
        assert_eq!(status(&mut conn, order), "created");
        let fx = exec(&mut conn, &set(order, "lost"));
        assert!(fx.publish.is_empty());

        let fx = exec(&mut conn, &set(order, "dispatched"));
        assert_eq!(topics(&fx), ["shipment.dispatched"]);
        let e: ShipmentView = serde_json::from_str(&fx.publish[0].payload).unwrap();
        assert_eq!(
            (e.order_id, e.user_id, e.status.as_str()),
            (order, user, "dispatched")
        );
        assert!(exec(&mut conn, &set(order, "dispatched"))
            .publish
            .is_empty());
        // A dispatched shipment cannot be cancelled.
        exec(&mut conn, &CancelShipment { order_id: order });
        assert_eq!(status(&mut conn, order), "dispatched");

        let fx = exec(&mut conn, &set(order, "delivered"));
        assert_eq!(topics(&fx), ["shipment.delivered"]);
        assert_eq!(status(&mut conn, order), "delivered");
        assert!(exec(&mut conn, &set(order, "delivered")).publish.is_empty());
        assert!(exec(&mut conn, &set(order, "dispatched"))
            .publish
            .is_empty());
        assert_eq!(status(&mut conn, order), "delivered");

        // Unknown orders: no-ops.
        let fx = exec(&mut conn, &set(Uuid::now_v7(), "dispatched"));
        assert!(fx.publish.is_empty());
        exec(
            &mut conn,
            &CancelShipment {
                order_id: Uuid::now_v7(),
            },
        );

        // The edge-side check of the status value.
        assert!(set(order, "dispatched").validate().is_ok());
        assert!(set(order, "created").validate().is_err());
    }

    #[test]
    fn a_created_shipment_can_be_cancelled_and_then_goes_nowhere() {
        let (_d, mut conn) = db();
        let order = Uuid::now_v7();
        exec(&mut conn, &create(order, Uuid::now_v7()));
        let fx = exec(&mut conn, &CancelShipment { order_id: order });
        assert!(fx.publish.is_empty() && fx.send.is_empty());
        assert_eq!(status(&mut conn, order), "cancelled");
        exec(&mut conn, &CancelShipment { order_id: order });
        assert!(exec(&mut conn, &set(order, "dispatched"))
            .publish
            .is_empty());
        assert_eq!(status(&mut conn, order), "cancelled");
    }
}
