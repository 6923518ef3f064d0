//! `notifications`: consumes events and "delivers" them — a stored
//! notification plus a structured log line (the seeds' simulated e-mail).
//! A notification's id derives from the envelope id, so a replay can never
//! create a second one.
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    orders::{
        OrderCancelled, OrderConfirmed, OrderCreated, OrderFailed, OrderPaid, OrderStatusChanged,
    },
    shipping::{ShipmentCreatedEvent, ShipmentDelivered, ShipmentDispatched, ShipmentView},
    users::UserRegistered,
    wallets::TransferCompleted,
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::{Page, Paged, Problem},
};

pub use store::NotificationStore;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    /// The event that produced it.
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub read: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListNotifications {
    pub user_id: Uuid,
    pub page: Page,
}

impl crate::mom::Message for ListNotifications {
    type To = Notifications;
    const KIND: &'static str = "list_notifications";
    type Reply = Paged<NotificationView>;
}
impl Query for ListNotifications {}
impl crate::mom::Handles<ListNotifications> for Notifications {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkRead {
    pub user_id: Uuid,
    pub id: Uuid,
}

impl crate::mom::Message for MarkRead {
    type To = Notifications;
    const KIND: &'static str = "mark_read";
    type Reply = NotificationView;
}
impl Command for MarkRead {}
impl crate::mom::Handles<MarkRead> for Notifications {}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[derive(Debug, Default)]
pub struct Notifications;

impl Notifications {
    fn deliver(
        store: &mut NotificationStore<'_>,
        msg: &Incoming<'_>,
        user_id: Uuid,
        subject: String,
        body: String,
    ) -> Result<Effects, Failure> {
        store.insert(msg.id, user_id, msg.kind, &subject, &body, msg.created_at)?;
        tracing::info!(target: "mailroom::delivery", user = %user_id, kind = msg.kind, %subject, "notification delivered");
        Effects::reply(&())
    }
}

impl Notifications {
    fn shipment(
        store: &mut NotificationStore<'_>,
        msg: &Incoming<'_>,
        s: &ShipmentView,
        subject: String,
        what: &str,
    ) -> Result<Effects, Failure> {
        let body = format!(
            "Your order {} {what} with {} (tracking number {}).",
            s.order_id, s.carrier, s.tracking_number
        );
        Self::deliver(store, msg, s.user_id, subject, body)
    }
}

impl crate::mom::Destination for Notifications {
    const NAME: &'static str = "notifications";
}

impl Service for Notifications {
    const SUBSCRIPTIONS: &'static [&'static str] = &[
        UserRegistered::TOPIC,
        TransferCompleted::TOPIC,
        "order.*",
        "shipment.*",
    ];

    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = NotificationStore(conn);
        match msg.kind {
            UserRegistered::TOPIC => {
                let e: UserRegistered = msg.decode()?;
                Self::deliver(
                    &mut store,
                    msg,
                    e.user_id,
                    "Welcome to mailroom".into(),
                    format!("Hello {}, your account {} is ready.", e.name, e.email),
                )
            }
            TransferCompleted::TOPIC => {
                let e: TransferCompleted = msg.decode()?;
                let t = &e.transfer;
                let from = e
                    .from_email
                    .clone()
                    .unwrap_or_else(|| t.from_user_id.to_string());
                let mut body = format!("{from} sent you {}.", dollars(t.amount_cents));
                if let Some(note) = &t.note {
                    body.push_str(&format!(" Note: {note}"));
                }
                Self::deliver(
                    &mut store,
                    msg,
                    t.to_user_id,
                    format!("You received {}", dollars(t.amount_cents)),
                    body,
                )
            }
            OrderCreated::TOPIC => {
                let e: OrderCreated = msg.decode()?;
                let o = &e.order;
                let items: i64 = o.lines.iter().map(|l| l.quantity).sum();
                let plural = if items == 1 { "" } else { "s" };
                Self::deliver(
                    &mut store,
                    msg,
                    o.user_id,
                    "Order received".into(),
                    format!(
                        "We received your order {} for {} ({items} item{plural}). We will tell you when it is confirmed.",
                        o.id,
                        dollars(o.total_cents)
                    ),
                )
            }
            OrderPaid::TOPIC => {
                let e: OrderPaid = msg.decode()?;
                Self::deliver(
                    &mut store,
                    msg,
                    e.user_id,
                    "Payment received".into(),
                    format!(
                        "We received your payment of {} for order {}.",
                        dollars(e.total_cents),
                        e.order_id
                    ),
                )
            }
            OrderConfirmed::TOPIC => {
                let e: OrderConfirmed = msg.decode()?;
                let o = &e.order;
                let mut body = format!(
                    "Your order {} for {} is confirmed.",
                    o.id,
                    dollars(o.total_cents)
                );
                if let Some(t) = &o.tracking_number {
                    body.push_str(&format!(" Tracking number: {t}."));
                }
                Self::deliver(&mut store, msg, o.user_id, "Order confirmed".into(), body)
            }
            OrderFailed::TOPIC => {
                let e: OrderFailed = msg.decode()?;
                Self::deliver(
                    &mut store,
                    msg,
                    e.user_id,
                    format!("Your order failed: {}", e.reason),
                    format!("Order {} could not be completed: {}.", e.order_id, e.reason),
                )
            }
            OrderCancelled::TOPIC => {
                let e: OrderCancelled = msg.decode()?;
                let o = &e.order;
                Self::deliver(
                    &mut store,
                    msg,
                    o.user_id,
                    "Order cancelled".into(),
                    format!(
                        "Your order {} for {} was cancelled.",
                        o.id,
                        dollars(o.total_cents)
                    ),
                )
            }
            OrderStatusChanged::TOPIC => {
                let e: OrderStatusChanged = msg.decode()?;
                let status = e.status.as_str();
                Self::deliver(
                    &mut store,
                    msg,
                    e.user_id,
                    format!("Order {status}"),
                    format!("Your order {} is now {status}.", e.order_id),
                )
            }
            ShipmentCreatedEvent::TOPIC => {
                let ShipmentCreatedEvent(s) = msg.decode()?;
                Self::shipment(
                    &mut store,
                    msg,
                    &s,
                    format!("Shipment created with {}", s.carrier),
                    "will ship",
                )
            }
            ShipmentDispatched::TOPIC => {
                let ShipmentDispatched(s) = msg.decode()?;
                Self::shipment(
                    &mut store,
                    msg,
                    &s,
                    format!("Shipped with {} {}", s.carrier, s.tracking_number),
                    "is on its way",
                )
            }
            ShipmentDelivered::TOPIC => {
                let ShipmentDelivered(s) = msg.decode()?;
                Self::shipment(&mut store, msg, &s, "Delivered".into(), "was delivered")
            }
            t if t.starts_with("order.") || t.starts_with("shipment.") => {
                // A newer event of a family this service follows: nothing to say.
                tracing::debug!(kind = t, "event without a notification");
                Effects::reply(&())
            }
            ListNotifications::KIND => {
                let q: ListNotifications = msg.decode()?;
                Effects::reply(&store.list(q.user_id, q.page)?)
            }
            MarkRead::KIND => {
                let cmd: MarkRead = msg.decode()?;
                let n = store
                    .mark_read(cmd.user_id, cmd.id)?
                    .ok_or_else(|| Problem::not_found("no such notification"))?;
                Effects::reply(&n)
            }
            other => {
                Err(Problem::bad_request(format!("notifications does not handle `{other}`")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::{
        actors::{
            orders::OrderStatus,
            shipping::{ShipmentDispatched, ShipmentView},
        },
        mom::Event,
        store::{self, Conn},
    };

    fn db() -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().unwrap();
        let pool = store::open(
            &dir.path().join("notifications.db"),
            store::migrations::NOTIFICATIONS,
            1,
        )
        .unwrap();
        let conn = pool.get().unwrap();
        (dir, conn)
    }

    fn publish<E: Event>(conn: &mut SqliteConnection, id: Uuid, e: &E) {
        Notifications
            .handle(
                conn,
                &Incoming {
                    id,
                    kind: E::TOPIC,
                    payload: &serde_json::to_string(e).unwrap(),
                    created_at: 1_795_435_200_000,
                },
            )
            .expect("handled");
    }

    fn mine(conn: &mut SqliteConnection, user_id: Uuid) -> Vec<NotificationView> {
        NotificationStore(conn)
            .list(user_id, Page::new(None, Some(100)).unwrap())
            .unwrap()
            .items
    }

    #[test]
    fn the_order_subscriptions_cover_order_and_shipment_events() {
        use crate::mom::topics::matches;
        for topic in [
            OrderFailed::TOPIC,
            OrderConfirmed::TOPIC,
            OrderStatusChanged::TOPIC,
            ShipmentDispatched::TOPIC,
            ShipmentDelivered::TOPIC,
        ] {
            assert!(
                Notifications::SUBSCRIPTIONS
                    .iter()
                    .any(|p| matches(p, topic)),
                "{topic}"
            );
        }
    }

    #[test]
    fn one_order_event_is_one_notification_for_the_owner() {
        let (_d, mut conn) = db();
        let (user, order) = (Uuid::now_v7(), Uuid::now_v7());
        let e = OrderFailed {
            order_id: order,
            user_id: user,
            reason: "card declined".into(),
        };
        publish(&mut conn, Uuid::now_v7(), &e);
        let got = mine(&mut conn, user);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "order.failed");
        assert_eq!(got[0].subject, "Your order failed: card declined");
        assert!(got[0].body.contains(&order.to_string()), "{:?}", got[0]);
        assert!(!got[0].read);
        assert!(mine(&mut conn, Uuid::now_v7()).is_empty());

        publish(
            &mut conn,
            Uuid::now_v7(),
            &OrderStatusChanged {
                order_id: order,
                user_id: user,
                status: OrderStatus::Shipped,
            },
        );
        let got = mine(&mut conn, user);
        assert_eq!(got.len(), 2);
        assert!(got.iter().any(|n| n.subject == "Order shipped"));
    }

    #[test]
    fn a_shipment_event_names_the_carrier_and_tracking_number() {
        let (_d, mut conn) = db();
        let user = Uuid::now_v7();
        let view = ShipmentView {
            order_id: Uuid::now_v7(),
            user_id: user,
            carrier: "DHL".into(),
            tracking_number: "1Z0123456789ABCDEF".into(),
            status: "dispatched".into(),
            created_at: "2026-11-23T12:00:00.000Z".into(),
            updated_at: "2026-11-23T12:00:00.000Z".into(),
        };
        publish(&mut conn, Uuid::now_v7(), &ShipmentDispatched(view));
        let got = mine(&mut conn, user);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "shipment.dispatched");
        assert_eq!(got[0].subject, "Shipped with DHL 1Z0123456789ABCDEF");
    }

    #[test]
    fn an_unknown_event_of_a_followed_family_is_accepted_silently() {
        let (_d, mut conn) = db();
        let fx = Notifications
            .handle(
                &mut conn,
                &Incoming {
                    id: Uuid::now_v7(),
                    kind: "order.archived",
                    payload: "{}",
                    created_at: 0,
                },
            )
            .expect("handled");
        assert!(fx.publish.is_empty() && fx.send.is_empty());
    }
}
