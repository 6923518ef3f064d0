//! `notifications`: consumes events and "delivers" them — a stored
//! notification plus a structured log line (the seeds' simulated e-mail).
//! A notification's id derives from the envelope id, so a replay can never
//! create a second one.
mod store;

use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    users::UserRegistered, wallets::TransferCompleted, Effects, Failure, Incoming, Service,
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

impl Query for ListNotifications {
    const DESTINATION: &'static str = Notifications::NAME;
    const KIND: &'static str = "list_notifications";
    type Reply = Paged<NotificationView>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkRead {
    pub user_id: Uuid,
    pub id: Uuid,
}

impl Command for MarkRead {
    const DESTINATION: &'static str = Notifications::NAME;
    const KIND: &'static str = "mark_read";
    type Reply = NotificationView;
}

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

impl Service for Notifications {
    const NAME: &'static str = "notifications";
    const SUBSCRIPTIONS: &'static [&'static str] =
        &[UserRegistered::TOPIC, TransferCompleted::TOPIC];

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
