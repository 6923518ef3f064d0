//! `queues`: the MOM as a product — durable queues and topics that users
//! own, on the same engine the services run on (seed 001, issue 4).
//!
//! Every mutation (create/delete, grant, publish, receive, ack, nack,
//! redrive, topic publish, bind) is a MOM command: journaled (fsync) before
//! it is applied, applied effectively once through the inbox, answered after
//! the commit. Reads (get, list, dead letters, the long poll's peek) are
//! queries. So a message that got its 201 survives actor kills and
//! `kill -9`, and a lease (its end and receipt are stored) survives a
//! restart too.
//!
//! Determinism (a handler may run again after a rollback): "now" is the
//! envelope's `created_at`; a message published to a queue takes the
//! envelope id as its id, a topic's copies derive theirs from it and the
//! queue name ([`copy_id`]); a receipt derives from the receive envelope's
//! id and the message id ([`receipt`]).
//!
//! # Semantics
//! - **Order.** A receive takes messages in `(visible_at, seq)` order:
//!   FIFO by publication for messages that were never delivered; a message
//!   whose lease ran out, or whose delay ended, is placed by that time.
//! - **Leases.** `receive` leases up to `max` messages for the queue's
//!   visibility timeout (or the receive's own) and returns a receipt per
//!   message. `ack {receipt}` deletes the message; `nack {requeue: true,
//!   delay_s}` makes it waiting again (after the delay); `nack {requeue:
//!   false}` dead-letters it. An ack or nack needs the message's *current*
//!   receipt: 409 when it was received again since, 404 when the message
//!   is no longer in the queue (acked, dead-lettered, or unknown). A
//!   receipt stays current after its lease ends until the next receive of
//!   that message, so a late ack still counts.
//! - **Settling twice.** Repeating a settlement with the receipt that made
//!   it — an ack after its ack, a nack with the same `requeue` after its
//!   nack — answers 200 as the first did and changes nothing, for a day
//!   (`store::SETTLED_RECEIPT_TTL_MS`). So a consumer may retry an ack
//!   without an idempotency key, as with SQS's DeleteMessage. Anything else
//!   keeps the rules above: a receipt from an earlier lease of a message
//!   leased again since is stale (409 while the message is in the queue,
//!   404 once it is gone, even if the later lease acked it), and a receipt
//!   that nacked a message cannot ack it (409 while it waits again, 404
//!   once dead-lettered).
//! - **Dead letters.** A message that would be delivered more than
//!   `max_deliveries` times, or is past its TTL, moves to the queue's dead
//!   letters (reason `max_deliveries` / `expired`) when a receive reaches
//!   it; `nack {requeue: false}` gives reason `rejected`. Redrive puts it
//!   back at the tail with delivery count 0 and a fresh TTL.
//! - **TTL** (`message_ttl_s`) counts from publication; expiry
//!   dead-letters (it does not drop), so nothing disappears unseen.
//! - **Topics** fan out, in the one command's transaction, into every queue
//!   bound with a matching AMQP pattern (`*` one word, `#` zero or more);
//!   each queue gets one copy even if several of its patterns match.
//!
//! # Authorization: one rule
//! Names are global and not secret (creating a taken name answers 409), so
//! **404 means the queue or topic does not exist, and 403 means it exists
//! and you lack the permission** — never 404 to hide one. The owner may do
//! everything; grants give `publish` and/or `consume` to other users (by
//! email). Any grant lets you inspect (GET). Deleting and granting are the
//! owner's. On a queue, `consume` covers receive, ack, nack, the dead
//! letters and redrive; on a topic, `consume` lets you bind (subscribe)
//! queues you may publish to. Admins act as owners everywhere. The rule
//! answers before the request's content does: [`edge::access_first`] turns
//! a 400/413/422 into the 404/403 of [`CheckAccess`] for a caller who may
//! not use the queue or topic.
mod store;

pub mod edge;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::collections::BTreeMap;

use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    users::{normalize_email, UserDeleted, UserRegistered},
    Effects, Failure, Incoming, Service,
};
use crate::{
    auth::Caller,
    mom::{topics, Command, Event, Query},
    problem::{rfc3339, Page, Paged, Problem, ProblemKind},
};

pub use store::Counts;
use store::{
    DeadRow, GrantRow, MessageRow, NewMessage, QueueRow, QueueStore, SettledRow, SubscriptionRow,
};

pub const MAX_NAME: usize = 64;
/// [`check_name`] as a regular expression, for the OpenAPI document.
pub const NAME_PATTERN: &str = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,64}$";
/// Largest message body: 256 KiB.
pub const MAX_BODY: usize = 256 * 1024;
pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER_NAME: usize = 128;
pub const MAX_HEADER_VALUE: usize = 1024;
pub const DEFAULT_VISIBILITY_S: u32 = 30;
pub const MAX_VISIBILITY_S: u32 = 43_200;
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;
pub const MAX_MAX_DELIVERIES: u32 = 1_000;
/// Longest TTL: 14 days.
pub const MAX_TTL_S: u32 = 1_209_600;
/// Longest publish delay: one day.
pub const MAX_DELAY_S: u32 = 86_400;
/// Most messages one receive leases.
pub const MAX_RECEIVE: u32 = 100;
/// Longest long poll.
pub const MAX_WAIT_S: u32 = 20;
pub const MAX_RECEIPT: usize = 128;
pub const MAX_ROUTING_KEY: usize = 255;
/// Body bytes after which a receive stops leasing (it always returns at
/// least one message): replies are journaled, keep them small.
pub const MAX_RECEIVE_BYTES: usize = 1 << 20;
/// Messages one receive looks at (leased or dead-lettered) before it
/// answers, so a backlog of expired messages is swept a slice at a time.
const SCAN_BUDGET: usize = 1_000;

// ---- errors ------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{what} name must be 1 to {MAX_NAME} characters from A-Z a-z 0-9 . _ - (and not `.` or `..`, which no URL can address)")]
    InvalidName { what: &'static str },
    #[error("body is {0} bytes; the limit is {MAX_BODY} (256 KiB)")]
    BodyTooLarge(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("queue `{0}` not found")]
    QueueNotFound(String),
    #[error("topic `{0}` not found")]
    TopicNotFound(String),
    #[error("queue `{0}` already exists")]
    QueueExists(String),
    #[error("topic `{0}` already exists")]
    TopicExists(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no user with email `{0}`")]
    UnknownUser(String),
    #[error("message {0} is not in queue `{1}` (already acked, dead-lettered, or never published there)")]
    MessageNotFound(Uuid, String),
    #[error("stale receipt for message {0}: it is not the message's current receipt (the message was received again since)")]
    StaleReceipt(Uuid),
    #[error("message {0} is not in the dead letters of queue `{1}`")]
    NotDead(Uuid, String),
    #[error("queue `{queue}` is already bound to topic `{topic}` with pattern `{pattern}`")]
    AlreadyBound {
        topic: String,
        queue: String,
        pattern: String,
    },
    #[error("subscription {0} not found on topic `{1}`")]
    SubscriptionNotFound(Uuid, String),
}

impl From<QueueError> for Problem {
    fn from(e: QueueError) -> Self {
        use QueueError::*;
        match e {
            InvalidName { .. } | Invalid(_) => Problem::invalid(e.to_string()),
            BodyTooLarge(_) => Problem::new(ProblemKind::TooLarge, e.to_string()),
            QueueNotFound(_)
            | TopicNotFound(_)
            | UnknownUser(_)
            | MessageNotFound(..)
            | NotDead(..)
            | SubscriptionNotFound(..) => Problem::not_found(e.to_string()),
            QueueExists(_) | TopicExists(_) | StaleReceipt(_) | AlreadyBound { .. } => {
                Problem::conflict(e.to_string())
            }
            Forbidden(_) => Problem::forbidden(e.to_string()),
        }
    }
}

impl From<QueueError> for Failure {
    fn from(e: QueueError) -> Self {
        Failure::Rejected(e.into())
    }
}

// ---- rules -------------------------------------------------------------------

/// A queue or topic name: 1–64 of `[A-Za-z0-9._-]`, but not `.` or `..`:
/// clients resolve those path segments away (`/queues/..` becomes `/`), so
/// such a queue could never be addressed. [`NAME_PATTERN`] says the same.
pub fn check_name(what: &'static str, name: &str) -> Result<(), QueueError> {
    let ok = (1..=MAX_NAME).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(QueueError::InvalidName { what })
    }
}

fn check_range(field: &str, v: Option<u32>, min: u32, max: u32) -> Result<(), QueueError> {
    match v {
        Some(v) if !(min..=max).contains(&v) => Err(QueueError::Invalid(format!(
            "{field} must be between {min} and {max}"
        ))),
        _ => Ok(()),
    }
}

fn check_body(body: &str, headers: &BTreeMap<String, String>) -> Result<(), QueueError> {
    if body.len() > MAX_BODY {
        return Err(QueueError::BodyTooLarge(body.len()));
    }
    if headers.len() > MAX_HEADERS {
        return Err(QueueError::Invalid(format!(
            "at most {MAX_HEADERS} headers"
        )));
    }
    for (k, v) in headers {
        let key_ok = (1..=MAX_HEADER_NAME).contains(&k.len())
            && !k.chars().any(|c| c.is_control() || c.is_whitespace());
        if !key_ok {
            return Err(QueueError::Invalid(format!(
                "header names must be 1 to {MAX_HEADER_NAME} bytes without spaces or control characters"
            )));
        }
        if v.len() > MAX_HEADER_VALUE {
            return Err(QueueError::Invalid(format!(
                "header `{k}` is longer than {MAX_HEADER_VALUE} bytes"
            )));
        }
    }
    Ok(())
}

/// A long poll's `wait_s` (0..=20), as a duration.
pub fn long_poll(wait_s: Option<u32>) -> Result<std::time::Duration, Problem> {
    check_range("wait_s", wait_s, 0, MAX_WAIT_S)?;
    Ok(std::time::Duration::from_secs(wait_s.unwrap_or(0).into()))
}

fn check_receipt(receipt: &str) -> Result<(), QueueError> {
    if (1..=MAX_RECEIPT).contains(&receipt.len()) && receipt.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "receipt must be 1 to {MAX_RECEIPT} visible ASCII characters"
        )))
    }
}

/// A routing key: dot-separated words, no wildcards.
pub fn check_routing_key(key: &str) -> Result<(), QueueError> {
    let ok = key.len() <= MAX_ROUTING_KEY
        && !key
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '*' || c == '#');
    if ok {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "routing_key must be at most {MAX_ROUTING_KEY} bytes without spaces, control characters, `*` or `#`"
        )))
    }
}

/// A binding pattern: dot-separated words, each `*`, `#` or a literal
/// without wildcards.
pub fn check_pattern(pattern: &str) -> Result<(), QueueError> {
    let ok = pattern.len() <= MAX_ROUTING_KEY
        && !pattern.chars().any(|c| c.is_control() || c.is_whitespace())
        && pattern
            .split('.')
            .all(|w| w == "*" || w == "#" || !w.contains(['*', '#']));
    if ok {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "pattern must be at most {MAX_ROUTING_KEY} bytes of dot-separated words, each `*`, `#` or a word without them"
        )))
    }
}

/// The id of a topic message's copy in `queue`.
pub fn copy_id(envelope: Uuid, queue: &str) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"mailroom.queues.copy\0");
    h.update(envelope.as_bytes());
    h.update(queue.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// The receipt of message `message` leased by receive envelope `receive`:
/// unguessable without both ids, the same on a replay.
pub fn receipt(receive: Uuid, message: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mailroom.queues.receipt\0");
    h.update(receive.as_bytes());
    h.update(message.as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn secs_ms(s: u32) -> i64 {
    i64::from(s) * 1000
}

// ---- who asks, and what they may do -------------------------------------------

/// The caller, as the queues actor needs it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct By {
    pub user_id: Uuid,
    #[serde(default)]
    pub admin: bool,
}

impl From<Caller> for By {
    fn from(c: Caller) -> Self {
        Self {
            user_id: c.user_id,
            admin: c.is_admin(),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Publish into a queue; publish to a topic.
    Publish,
    /// Receive, ack, nack, dead letters and redrive on a queue; bind
    /// (subscribe) queues to a topic.
    Consume,
}

/// A queue or a topic, for grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum On {
    Queue,
    Topic,
}

impl On {
    fn as_str(self) -> &'static str {
        match self {
            On::Queue => store::QUEUE,
            On::Topic => store::TOPIC,
        }
    }
}

/// What the caller may do on one queue or topic.
#[derive(Debug, Clone, Copy, Default)]
struct Access {
    owner: bool,
    publish: bool,
    consume: bool,
}

impl Access {
    fn of(
        store: &mut QueueStore<'_>,
        on: On,
        name: &str,
        owner_id: &str,
        by: By,
    ) -> Result<Self, Failure> {
        let me = by.user_id.to_string();
        if by.admin || owner_id == me {
            return Ok(Access {
                owner: true,
                publish: true,
                consume: true,
            });
        }
        let g = store.grant(on.as_str(), name, &me)?.unwrap_or_default();
        Ok(Access {
            owner: false,
            publish: g.publish,
            consume: g.consume,
        })
    }

    fn permissions(&self) -> Vec<Permission> {
        let mut p = Vec::new();
        if self.publish {
            p.push(Permission::Publish);
        }
        if self.consume {
            p.push(Permission::Consume);
        }
        p
    }

    /// 403 unless the caller holds `need` (`None`: may see it at all).
    fn require(
        &self,
        need: Option<Permission>,
        on: On,
        name: &str,
        action: &str,
    ) -> Result<(), QueueError> {
        let ok = match need {
            None => self.owner || self.publish || self.consume,
            Some(Permission::Publish) => self.publish,
            Some(Permission::Consume) => self.consume,
        };
        if ok {
            return Ok(());
        }
        let what = on.as_str();
        Err(QueueError::Forbidden(match need {
            None => format!("you have no access to {what} `{name}`; its owner can grant it"),
            Some(p) => format!(
                "you may not {action} {what} `{name}`: it takes the `{}` permission, which its owner can grant",
                serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            ),
        }))
    }

    fn require_owner(&self, on: On, name: &str, action: &str) -> Result<(), QueueError> {
        if self.owner {
            Ok(())
        } else {
            Err(QueueError::Forbidden(format!(
                "only the owner of {} `{name}` may {action} it",
                on.as_str()
            )))
        }
    }
}

// ---- views ---------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct QueueView {
    pub name: String,
    pub owner_id: Uuid,
    /// The owner's email, when the queues service knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    pub visibility_timeout_s: u32,
    pub max_deliveries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_ttl_s: Option<u32>,
    /// Messages waiting (ready or delayed), not leased.
    pub depth: i64,
    /// Messages leased and not yet acked (nor past their lease).
    pub in_flight: i64,
    /// Messages in the dead letters.
    pub dead: i64,
    /// Whether you own it.
    pub owned: bool,
    /// What you may do besides inspecting it.
    pub permissions: Vec<Permission>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GrantView {
    pub on: On,
    pub name: String,
    pub user_id: Uuid,
    pub user_email: String,
    /// Now held; empty: the grant was revoked.
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Published {
    /// The message id (the operation id, too).
    pub id: Uuid,
}

/// A leased message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Delivered {
    pub id: Uuid,
    pub body: String,
    pub headers: BTreeMap<String, String>,
    /// 1 on the first delivery.
    pub delivery_count: u32,
    /// Ack or nack with this.
    pub receipt: String,
    /// When the lease ends and the message is redelivered unless acked.
    pub lease_until: String,
    pub published_at: String,
    /// For a message that came through a topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Received {
    pub messages: Vec<Delivered>,
}

/// What became of a message after ack, nack or redrive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Settled {
    pub id: Uuid,
    /// acked | requeued | dead_lettered; in a batch ack also not_found |
    /// stale_receipt
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeadLetterView {
    pub id: Uuid,
    pub body: String,
    pub headers: BTreeMap<String, String>,
    pub delivery_count: u32,
    /// max_deliveries | expired | rejected
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    pub published_at: String,
    pub dead_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub topic: String,
    pub queue: String,
    pub pattern: String,
    pub created_by: Uuid,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TopicView {
    pub name: String,
    pub owner_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    pub owned: bool,
    pub permissions: Vec<Permission>,
    /// The queues bound to it.
    pub subscriptions: Vec<SubscriptionView>,
    pub created_at: String,
}

/// A topic publication: its id and the queues it reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicPublished {
    pub id: Uuid,
    pub queues: Vec<String>,
}

/// The long poll's cheap look at a queue (never journaled).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Head {
    /// A receive now would find something.
    pub ready: bool,
    /// When the next message becomes receivable (ms), if any is live.
    pub next_visible_at: Option<i64>,
    /// The actor's clock when it looked (ms).
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueCounts {
    pub name: String,
    pub depth: i64,
    pub in_flight: i64,
    pub dead: i64,
}

// ---- commands ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateQueue {
    pub by: By,
    pub name: String,
    pub visibility_timeout_s: Option<u32>,
    pub max_deliveries: Option<u32>,
    pub message_ttl_s: Option<u32>,
}
impl crate::mom::Message for CreateQueue {
    type To = Queues;
    const KIND: &'static str = "queue.create";
    type Reply = QueueView;
    fn validate(&self) -> Result<(), Problem> {
        check_name("queue", &self.name)?;
        check_range(
            "visibility_timeout_s",
            self.visibility_timeout_s,
            1,
            MAX_VISIBILITY_S,
        )?;
        check_range("max_deliveries", self.max_deliveries, 1, MAX_MAX_DELIVERIES)?;
        check_range("message_ttl_s", self.message_ttl_s, 1, MAX_TTL_S)?;
        Ok(())
    }
}
impl Command for CreateQueue {}
impl crate::mom::Handles<CreateQueue> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteQueue {
    pub by: By,
    pub name: String,
}
impl crate::mom::Message for DeleteQueue {
    type To = Queues;
    const KIND: &'static str = "queue.delete";
    type Reply = QueueView;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("queue", &self.name)?)
    }
}
impl Command for DeleteQueue {}
impl crate::mom::Handles<DeleteQueue> for Queues {}

/// Sets (replaces) what `user_email` may do on a queue or topic; an empty
/// list revokes. Owner only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub by: By,
    pub on: On,
    pub name: String,
    pub user_email: String,
    pub permissions: Vec<Permission>,
}
impl crate::mom::Message for Grant {
    type To = Queues;
    const KIND: &'static str = "grant";
    type Reply = GrantView;
    fn validate(&self) -> Result<(), Problem> {
        check_name(
            match self.on {
                On::Queue => "queue",
                On::Topic => "topic",
            },
            &self.name,
        )?;
        crate::actors::users::validate_email(&normalize_email(&self.user_email))?;
        Ok(())
    }
}
impl Command for Grant {}
impl crate::mom::Handles<Grant> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publish {
    pub by: By,
    pub queue: String,
    pub body: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub delay_s: Option<u32>,
}
impl crate::mom::Message for Publish {
    type To = Queues;
    const KIND: &'static str = "queue.publish";
    type Reply = Published;
    fn validate(&self) -> Result<(), Problem> {
        check_name("queue", &self.queue)?;
        check_body(&self.body, &self.headers)?;
        check_range("delay_s", self.delay_s, 0, MAX_DELAY_S)?;
        Ok(())
    }
}
impl Command for Publish {}
impl crate::mom::Handles<Publish> for Queues {}

/// Leases up to `max` receivable messages. The long poll lives at the edge
/// ([`edge::receive`]); this command never waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receive {
    pub by: By,
    pub queue: String,
    pub max: u32,
    /// Overrides the queue's visibility timeout for these leases.
    pub visibility_timeout_s: Option<u32>,
}
impl crate::mom::Message for Receive {
    type To = Queues;
    const KIND: &'static str = "queue.receive";
    type Reply = Received;
    fn validate(&self) -> Result<(), Problem> {
        check_name("queue", &self.queue)?;
        check_range("max", Some(self.max), 1, MAX_RECEIVE)?;
        check_range(
            "visibility_timeout_s",
            self.visibility_timeout_s,
            1,
            MAX_VISIBILITY_S,
        )?;
        Ok(())
    }
}
impl Command for Receive {}
impl crate::mom::Handles<Receive> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ack {
    pub by: By,
    pub queue: String,
    pub id: Uuid,
    pub receipt: String,
}
impl crate::mom::Message for Ack {
    type To = Queues;
    const KIND: &'static str = "queue.ack";
    type Reply = Settled;
    fn validate(&self) -> Result<(), Problem> {
        check_name("queue", &self.queue)?;
        check_receipt(&self.receipt)?;
        Ok(())
    }
}
impl Command for Ack {}
impl crate::mom::Handles<Ack> for Queues {}

/// One receipt in an [`AckBatch`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AckItem {
    pub id: Uuid,
    /// 1 to 128 visible ASCII characters.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    pub receipt: String,
}

/// Acks up to [`MAX_RECEIVE`] messages in one command; each is settled on
/// its own (a stale or unknown receipt fails only its item).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckBatch {
    pub by: By,
    pub queue: String,
    pub acks: Vec<AckItem>,
}
impl crate::mom::Message for AckBatch {
    type To = Queues;
    const KIND: &'static str = "queue.ack_batch";
    type Reply = AckedBatch;
    fn validate(&self) -> Result<(), Problem> {
        check_name("queue", &self.queue)?;
        if !(1..=MAX_RECEIVE as usize).contains(&self.acks.len()) {
            return Err(
                QueueError::Invalid(format!("acks must hold 1 to {MAX_RECEIVE} receipts")).into(),
            );
        }
        for a in &self.acks {
            check_receipt(&a.receipt)?;
        }
        Ok(())
    }
}
impl Command for AckBatch {}
impl crate::mom::Handles<AckBatch> for Queues {}

/// Per receipt, in request order: `acked`, `not_found` (no longer in the
/// queue) or `stale_receipt` (received again since).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AckedBatch {
    pub results: Vec<Settled>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Nack {
    pub by: By,
    pub queue: String,
    pub id: Uuid,
    pub receipt: String,
    /// true: waiting again (after `delay_s`); false: dead-lettered.
    pub requeue: bool,
    pub delay_s: Option<u32>,
}
impl crate::mom::Message for Nack {
    type To = Queues;
    const KIND: &'static str = "queue.nack";
    type Reply = Settled;
    fn validate(&self) -> Result<(), Problem> {
        check_name("queue", &self.queue)?;
        check_receipt(&self.receipt)?;
        check_range("delay_s", self.delay_s, 0, MAX_DELAY_S)?;
        Ok(())
    }
}
impl Command for Nack {}
impl crate::mom::Handles<Nack> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Redrive {
    pub by: By,
    pub queue: String,
    pub id: Uuid,
}
impl crate::mom::Message for Redrive {
    type To = Queues;
    const KIND: &'static str = "queue.redrive";
    type Reply = Settled;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("queue", &self.queue)?)
    }
}
impl Command for Redrive {}
impl crate::mom::Handles<Redrive> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTopic {
    pub by: By,
    pub name: String,
}
impl crate::mom::Message for CreateTopic {
    type To = Queues;
    const KIND: &'static str = "topic.create";
    type Reply = TopicView;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("topic", &self.name)?)
    }
}
impl Command for CreateTopic {}
impl crate::mom::Handles<CreateTopic> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteTopic {
    pub by: By,
    pub name: String,
}
impl crate::mom::Message for DeleteTopic {
    type To = Queues;
    const KIND: &'static str = "topic.delete";
    type Reply = TopicView;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("topic", &self.name)?)
    }
}
impl Command for DeleteTopic {}
impl crate::mom::Handles<DeleteTopic> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishTopic {
    pub by: By,
    pub topic: String,
    pub routing_key: String,
    pub body: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}
impl crate::mom::Message for PublishTopic {
    type To = Queues;
    const KIND: &'static str = "topic.publish";
    type Reply = TopicPublished;
    fn validate(&self) -> Result<(), Problem> {
        check_name("topic", &self.topic)?;
        check_routing_key(&self.routing_key)?;
        check_body(&self.body, &self.headers)?;
        Ok(())
    }
}
impl Command for PublishTopic {}
impl crate::mom::Handles<PublishTopic> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bind {
    pub by: By,
    pub topic: String,
    pub queue: String,
    pub pattern: String,
}
impl crate::mom::Message for Bind {
    type To = Queues;
    const KIND: &'static str = "topic.bind";
    type Reply = SubscriptionView;
    fn validate(&self) -> Result<(), Problem> {
        check_name("topic", &self.topic)?;
        check_name("queue", &self.queue)?;
        check_pattern(&self.pattern)?;
        Ok(())
    }
}
impl Command for Bind {}
impl crate::mom::Handles<Bind> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unbind {
    pub by: By,
    pub topic: String,
    pub id: Uuid,
}
impl crate::mom::Message for Unbind {
    type To = Queues;
    const KIND: &'static str = "topic.unbind";
    type Reply = SubscriptionView;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("topic", &self.topic)?)
    }
}
impl Command for Unbind {}
impl crate::mom::Handles<Unbind> for Queues {}

// ---- queries -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetQueue {
    pub by: By,
    pub name: String,
}
impl crate::mom::Message for GetQueue {
    type To = Queues;
    const KIND: &'static str = "queue.get";
    type Reply = QueueView;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("queue", &self.name)?)
    }
}
impl Query for GetQueue {}
impl crate::mom::Handles<GetQueue> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListQueues {
    pub by: By,
    pub page: Page,
}
impl crate::mom::Message for ListQueues {
    type To = Queues;
    const KIND: &'static str = "queue.list";
    type Reply = Paged<QueueView>;
}
impl Query for ListQueues {}
impl crate::mom::Handles<ListQueues> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListDeadLetters {
    pub by: By,
    pub queue: String,
    pub page: Page,
}
impl crate::mom::Message for ListDeadLetters {
    type To = Queues;
    const KIND: &'static str = "queue.dead_letters";
    type Reply = Paged<DeadLetterView>;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("queue", &self.queue)?)
    }
}
impl Query for ListDeadLetters {}
impl crate::mom::Handles<ListDeadLetters> for Queues {}

/// Whether a receive would find something now (and when it will); checks
/// the consume permission like a receive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Peek {
    pub by: By,
    pub queue: String,
}
impl crate::mom::Message for Peek {
    type To = Queues;
    const KIND: &'static str = "queue.peek";
    type Reply = Head;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("queue", &self.queue)?)
    }
}
impl Query for Peek {}
impl crate::mom::Handles<Peek> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetTopic {
    pub by: By,
    pub name: String,
}
impl crate::mom::Message for GetTopic {
    type To = Queues;
    const KIND: &'static str = "topic.get";
    type Reply = TopicView;
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name("topic", &self.name)?)
    }
}
impl Query for GetTopic {}
impl crate::mom::Handles<GetTopic> for Queues {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListTopics {
    pub by: By,
    pub page: Page,
}
impl crate::mom::Message for ListTopics {
    type To = Queues;
    const KIND: &'static str = "topic.list";
    type Reply = Paged<TopicView>;
}
impl Query for ListTopics {}
impl crate::mom::Handles<ListTopics> for Queues {}

/// What an operation needs on a queue or topic (see [`CheckAccess`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Any grant: may see it.
    Inspect,
    Publish,
    Consume,
    /// Delete, grant: the owner's.
    Owner,
}

/// Whether `by` may do what `need` says on a queue or topic: `()`, or the
/// 404 (it does not exist) / 403 (you lack the permission) the operation
/// itself would answer, with the same detail (`action` words it, e.g.
/// "publish to"). The edges ask it before refusing a request for its
/// content (400/413/422), so that a caller who may not use a queue at all
/// hears that first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckAccess {
    pub by: By,
    pub on: On,
    pub name: String,
    pub need: Need,
    pub action: String,
}
impl crate::mom::Message for CheckAccess {
    type To = Queues;
    const KIND: &'static str = "access.check";
    type Reply = ();
    fn validate(&self) -> Result<(), Problem> {
        Ok(check_name(self.on.as_str(), &self.name)?)
    }
}
impl Query for CheckAccess {}
impl crate::mom::Handles<CheckAccess> for Queues {}

/// Every queue's counts, for `/metrics` (no route serves it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllCounts {}
impl crate::mom::Message for AllCounts {
    type To = Queues;
    const KIND: &'static str = "queue.all_counts";
    type Reply = Vec<QueueCounts>;
}
impl Query for AllCounts {}
impl crate::mom::Handles<AllCounts> for Queues {}

// ---- the actor -----------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Queues;

fn parse_id(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
}

fn load_queue(store: &mut QueueStore<'_>, name: &str) -> Result<QueueRow, Failure> {
    store
        .queue(name)?
        .ok_or_else(|| QueueError::QueueNotFound(name.to_owned()).into())
}

fn load_topic(store: &mut QueueStore<'_>, name: &str) -> Result<store::TopicRow, Failure> {
    store
        .topic(name)?
        .ok_or_else(|| QueueError::TopicNotFound(name.to_owned()).into())
}

fn queue_access(store: &mut QueueStore<'_>, q: &QueueRow, by: By) -> Result<Access, Failure> {
    Access::of(store, On::Queue, &q.name, &q.owner_id, by)
}

fn topic_access(
    store: &mut QueueStore<'_>,
    t: &store::TopicRow,
    by: By,
) -> Result<Access, Failure> {
    Access::of(store, On::Topic, &t.name, &t.owner_id, by)
}

fn queue_view(
    store: &mut QueueStore<'_>,
    q: &QueueRow,
    access: Access,
    now: i64,
) -> Result<QueueView, Failure> {
    let counts = store.counts(&q.name, now)?;
    Ok(QueueView {
        name: q.name.clone(),
        owner_id: parse_id(&q.owner_id),
        owner_email: store.email_of(&q.owner_id)?,
        visibility_timeout_s: q.visibility_timeout_s as u32,
        max_deliveries: q.max_deliveries as u32,
        message_ttl_s: q.message_ttl_s.map(|t| t as u32),
        depth: counts.depth,
        in_flight: counts.in_flight,
        dead: counts.dead,
        owned: access.owner,
        permissions: access.permissions(),
        created_at: rfc3339(q.created_at),
    })
}

fn subscription_view(s: SubscriptionRow) -> SubscriptionView {
    SubscriptionView {
        id: parse_id(&s.id),
        topic: s.topic,
        queue: s.queue,
        pattern: s.pattern,
        created_by: parse_id(&s.created_by),
        created_at: rfc3339(s.created_at),
    }
}

fn topic_view(
    store: &mut QueueStore<'_>,
    t: &store::TopicRow,
    access: Access,
) -> Result<TopicView, Failure> {
    Ok(TopicView {
        name: t.name.clone(),
        owner_id: parse_id(&t.owner_id),
        owner_email: store.email_of(&t.owner_id)?,
        owned: access.owner,
        permissions: access.permissions(),
        subscriptions: store
            .subscriptions(&t.name)?
            .into_iter()
            .map(subscription_view)
            .collect(),
        created_at: rfc3339(t.created_at),
    })
}

fn dead_view(d: DeadRow) -> DeadLetterView {
    DeadLetterView {
        id: parse_id(&d.id),
        headers: store::decode_headers(d.headers.as_deref()),
        body: d.body,
        delivery_count: d.delivery_count as u32,
        reason: d.reason,
        topic: d.topic,
        routing_key: d.routing_key,
        published_at: rfc3339(d.published_at),
        dead_at: rfc3339(d.dead_at),
    }
}

/// The leased message the caller acks or nacks, with its current receipt.
fn leased(
    store: &mut QueueStore<'_>,
    queue: &str,
    id: Uuid,
    receipt: &str,
) -> Result<MessageRow, Failure> {
    let m = store
        .message(&id.to_string())?
        .filter(|m| m.queue == queue)
        .ok_or_else(|| QueueError::MessageNotFound(id, queue.to_owned()))?;
    if m.receipt.as_deref() != Some(receipt) {
        return Err(QueueError::StaleReceipt(id).into());
    }
    Ok(m)
}

/// Whether `receipt` already settled message `id` of `queue` the way this
/// settlement would (`status`: acked, requeued, dead_lettered). Then the
/// command is a repeat: it answers as the first did and changes nothing.
fn repeats(
    store: &mut QueueStore<'_>,
    queue: &str,
    id: Uuid,
    receipt: &str,
    status: &str,
) -> Result<bool, Failure> {
    Ok(store
        .settled(receipt)?
        .is_some_and(|s| s.queue == queue && s.message_id == id.to_string() && s.status == status))
}

/// Remembers that `receipt` settled message `id` of `queue` as `status`.
fn remember(
    store: &mut QueueStore<'_>,
    queue: &str,
    id: Uuid,
    receipt: &str,
    status: &str,
    now: i64,
) -> Result<(), Failure> {
    store.remember_settled(&SettledRow {
        receipt: receipt.to_owned(),
        queue: queue.to_owned(),
        message_id: id.to_string(),
        status: status.to_owned(),
        settled_at: now,
    })?;
    Ok(())
}

/// Leases up to `max` receivable messages of `q` at `now`, dead-lettering
/// the expired and the over-delivered ones it meets on the way.
fn receive(
    store: &mut QueueStore<'_>,
    q: &QueueRow,
    receive_id: Uuid,
    max: usize,
    lease_ms: i64,
    now: i64,
) -> Result<Received, Failure> {
    let mut out = Vec::new();
    let (mut bytes, mut scanned) = (0usize, 0usize);
    'scan: while scanned < SCAN_BUDGET {
        let want = (max - out.len()).min(SCAN_BUDGET - scanned);
        let batch = store.receivable(&q.name, now, want as i64)?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            scanned += 1;
            if m.expires_at.is_some_and(|e| e <= now) {
                store.kill(&m, "expired", now)?;
                continue;
            }
            if m.delivery_count >= q.max_deliveries {
                store.kill(&m, "max_deliveries", now)?;
                continue;
            }
            let r = receipt(receive_id, &m.id);
            let until = now + lease_ms;
            let count = m.delivery_count + 1;
            store.lease(m.seq, &r, until, count)?;
            bytes += m.body.len();
            out.push(Delivered {
                id: parse_id(&m.id),
                headers: store::decode_headers(m.headers.as_deref()),
                body: m.body,
                delivery_count: count as u32,
                receipt: r,
                lease_until: rfc3339(until),
                published_at: rfc3339(m.published_at),
                topic: m.topic,
                routing_key: m.routing_key,
            });
            if out.len() >= max || bytes >= MAX_RECEIVE_BYTES {
                break 'scan;
            }
        }
    }
    Ok(Received { messages: out })
}

impl crate::mom::Destination for Queues {
    const NAME: &'static str = "queues";
}

impl Service for Queues {
    const SUBSCRIPTIONS: &'static [&'static str] = &[UserRegistered::TOPIC, UserDeleted::TOPIC];

    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = QueueStore(conn);
        let store = &mut store;
        let now = msg.created_at;
        match msg.kind {
            CreateQueue::KIND => {
                let cmd: CreateQueue = msg.decode()?;
                cmd.validate()?;
                if store.queue(&cmd.name)?.is_some() {
                    return Err(QueueError::QueueExists(cmd.name).into());
                }
                let row = QueueRow {
                    name: cmd.name,
                    owner_id: cmd.by.user_id.to_string(),
                    visibility_timeout_s: cmd.visibility_timeout_s.unwrap_or(DEFAULT_VISIBILITY_S)
                        as i32,
                    max_deliveries: cmd.max_deliveries.unwrap_or(DEFAULT_MAX_DELIVERIES) as i32,
                    message_ttl_s: cmd.message_ttl_s.map(|t| t as i32),
                    created_at: now,
                };
                store.create_queue(&row)?;
                let access = queue_access(store, &row, cmd.by)?;
                Effects::reply(&queue_view(store, &row, access, now)?)
            }
            DeleteQueue::KIND => {
                let cmd: DeleteQueue = msg.decode()?;
                let q = load_queue(store, &cmd.name)?;
                let access = queue_access(store, &q, cmd.by)?;
                access.require_owner(On::Queue, &q.name, "delete")?;
                let view = queue_view(store, &q, access, now)?;
                store.delete_queue(&q.name)?;
                Effects::reply(&view)
            }
            Grant::KIND => {
                let cmd: Grant = msg.decode()?;
                cmd.validate()?;
                let owner_id = match cmd.on {
                    On::Queue => load_queue(store, &cmd.name)?.owner_id,
                    On::Topic => load_topic(store, &cmd.name)?.owner_id,
                };
                Access::of(store, cmd.on, &cmd.name, &owner_id, cmd.by)?.require_owner(
                    cmd.on,
                    &cmd.name,
                    "grant permissions on",
                )?;
                let email = normalize_email(&cmd.user_email);
                let user = store
                    .user_by_email(&email)?
                    .ok_or_else(|| QueueError::UnknownUser(email.clone()))?;
                if user == owner_id {
                    return Err(QueueError::Invalid(format!(
                        "{email} owns {} `{}` and holds every permission",
                        cmd.on.as_str(),
                        cmd.name
                    ))
                    .into());
                }
                let g = GrantRow {
                    publish: cmd.permissions.contains(&Permission::Publish),
                    consume: cmd.permissions.contains(&Permission::Consume),
                };
                store.set_grant(cmd.on.as_str(), &cmd.name, &user, g, now)?;
                let held = Access {
                    owner: false,
                    publish: g.publish,
                    consume: g.consume,
                };
                Effects::reply(&GrantView {
                    on: cmd.on,
                    name: cmd.name,
                    user_id: parse_id(&user),
                    user_email: email,
                    permissions: held.permissions(),
                })
            }
            Publish::KIND => {
                let cmd: Publish = msg.decode()?;
                cmd.validate()?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Publish),
                    On::Queue,
                    &q.name,
                    "publish to",
                )?;
                let headers = store::encode_headers(&cmd.headers);
                store.insert_message(&NewMessage {
                    id: msg.id.to_string(),
                    queue: &q.name,
                    body: &cmd.body,
                    headers: headers.as_deref(),
                    topic: None,
                    routing_key: None,
                    visible_at: now + secs_ms(cmd.delay_s.unwrap_or(0)),
                    delivery_count: 0,
                    expires_at: q.message_ttl_s.map(|t| now + secs_ms(t as u32)),
                    published_at: now,
                })?;
                Effects::reply(&Published { id: msg.id })
            }
            Receive::KIND => {
                let cmd: Receive = msg.decode()?;
                cmd.validate()?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &q.name,
                    "receive from",
                )?;
                let lease_s = cmd
                    .visibility_timeout_s
                    .unwrap_or(q.visibility_timeout_s as u32);
                let got = receive(store, &q, msg.id, cmd.max as usize, secs_ms(lease_s), now)?;
                Effects::reply(&got)
            }
            Ack::KIND => {
                let cmd: Ack = msg.decode()?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &q.name,
                    "ack messages of",
                )?;
                if !repeats(store, &q.name, cmd.id, &cmd.receipt, "acked")? {
                    let m = leased(store, &q.name, cmd.id, &cmd.receipt)?;
                    store.delete_message(m.seq)?;
                    remember(store, &q.name, cmd.id, &cmd.receipt, "acked", now)?;
                }
                Effects::reply(&Settled {
                    id: cmd.id,
                    status: "acked".into(),
                })
            }
            AckBatch::KIND => {
                let cmd: AckBatch = msg.decode()?;
                cmd.validate()?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &q.name,
                    "ack messages of",
                )?;
                let mut results = Vec::with_capacity(cmd.acks.len());
                for a in cmd.acks {
                    if repeats(store, &q.name, a.id, &a.receipt, "acked")? {
                        results.push(Settled {
                            id: a.id,
                            status: "acked".into(),
                        });
                        continue;
                    }
                    let status = match leased(store, &q.name, a.id, &a.receipt) {
                        Ok(m) => {
                            store.delete_message(m.seq)?;
                            remember(store, &q.name, a.id, &a.receipt, "acked", now)?;
                            "acked"
                        }
                        Err(Failure::Rejected(p)) if p.kind == ProblemKind::NotFound => "not_found",
                        Err(Failure::Rejected(_)) => "stale_receipt",
                        Err(e) => return Err(e),
                    };
                    results.push(Settled {
                        id: a.id,
                        status: status.into(),
                    });
                }
                Effects::reply(&AckedBatch { results })
            }
            Nack::KIND => {
                let cmd: Nack = msg.decode()?;
                cmd.validate()?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &q.name,
                    "nack messages of",
                )?;
                let status = if cmd.requeue {
                    "requeued"
                } else {
                    "dead_lettered"
                };
                if !repeats(store, &q.name, cmd.id, &cmd.receipt, status)? {
                    let m = leased(store, &q.name, cmd.id, &cmd.receipt)?;
                    if cmd.requeue {
                        store.release(m.seq, now + secs_ms(cmd.delay_s.unwrap_or(0)))?;
                    } else {
                        store.kill(&m, "rejected", now)?;
                    }
                    remember(store, &q.name, cmd.id, &cmd.receipt, status, now)?;
                }
                Effects::reply(&Settled {
                    id: cmd.id,
                    status: status.into(),
                })
            }
            Redrive::KIND => {
                let cmd: Redrive = msg.decode()?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &q.name,
                    "redrive dead letters of",
                )?;
                let d = store
                    .dead_letter(&cmd.id.to_string())?
                    .filter(|d| d.queue == q.name)
                    .ok_or_else(|| QueueError::NotDead(cmd.id, q.name.clone()))?;
                store.redrive(&d, now, q.message_ttl_s.map(|t| now + secs_ms(t as u32)))?;
                Effects::reply(&Settled {
                    id: cmd.id,
                    status: "requeued".into(),
                })
            }
            CreateTopic::KIND => {
                let cmd: CreateTopic = msg.decode()?;
                cmd.validate()?;
                if store.topic(&cmd.name)?.is_some() {
                    return Err(QueueError::TopicExists(cmd.name).into());
                }
                let row = store::TopicRow {
                    name: cmd.name,
                    owner_id: cmd.by.user_id.to_string(),
                    created_at: now,
                };
                store.create_topic(&row)?;
                let access = topic_access(store, &row, cmd.by)?;
                Effects::reply(&topic_view(store, &row, access)?)
            }
            DeleteTopic::KIND => {
                let cmd: DeleteTopic = msg.decode()?;
                let t = load_topic(store, &cmd.name)?;
                let access = topic_access(store, &t, cmd.by)?;
                access.require_owner(On::Topic, &t.name, "delete")?;
                let view = topic_view(store, &t, access)?;
                store.delete_topic(&t.name)?;
                Effects::reply(&view)
            }
            PublishTopic::KIND => {
                let cmd: PublishTopic = msg.decode()?;
                cmd.validate()?;
                let t = load_topic(store, &cmd.topic)?;
                topic_access(store, &t, cmd.by)?.require(
                    Some(Permission::Publish),
                    On::Topic,
                    &t.name,
                    "publish to",
                )?;
                let mut reached: Vec<String> = Vec::new();
                for s in store.subscriptions(&t.name)? {
                    if topics::matches(&s.pattern, &cmd.routing_key) && !reached.contains(&s.queue)
                    {
                        reached.push(s.queue);
                    }
                }
                let headers = store::encode_headers(&cmd.headers);
                for name in &reached {
                    // Subscriptions go with their queue, so it exists.
                    let Some(q) = store.queue(name)? else {
                        continue;
                    };
                    store.insert_message(&NewMessage {
                        id: copy_id(msg.id, name).to_string(),
                        queue: name,
                        body: &cmd.body,
                        headers: headers.as_deref(),
                        topic: Some(&t.name),
                        routing_key: Some(&cmd.routing_key),
                        visible_at: now,
                        delivery_count: 0,
                        expires_at: q.message_ttl_s.map(|t| now + secs_ms(t as u32)),
                        published_at: now,
                    })?;
                }
                Effects::reply(&TopicPublished {
                    id: msg.id,
                    queues: reached,
                })
            }
            Bind::KIND => {
                let cmd: Bind = msg.decode()?;
                cmd.validate()?;
                let t = load_topic(store, &cmd.topic)?;
                topic_access(store, &t, cmd.by)?.require(
                    Some(Permission::Consume),
                    On::Topic,
                    &t.name,
                    "subscribe to",
                )?;
                let q = load_queue(store, &cmd.queue)?;
                queue_access(store, &q, cmd.by)?.require(
                    Some(Permission::Publish),
                    On::Queue,
                    &q.name,
                    "bind a topic into",
                )?;
                if store
                    .find_subscription(&t.name, &q.name, &cmd.pattern)?
                    .is_some()
                {
                    return Err(QueueError::AlreadyBound {
                        topic: t.name,
                        queue: q.name,
                        pattern: cmd.pattern,
                    }
                    .into());
                }
                let row = SubscriptionRow {
                    id: msg.id.to_string(),
                    topic: t.name,
                    queue: q.name,
                    pattern: cmd.pattern,
                    created_by: cmd.by.user_id.to_string(),
                    created_at: now,
                };
                store.add_subscription(&row)?;
                Effects::reply(&subscription_view(row))
            }
            Unbind::KIND => {
                let cmd: Unbind = msg.decode()?;
                let t = load_topic(store, &cmd.topic)?;
                let s = store
                    .subscription(&cmd.id.to_string())?
                    .filter(|s| s.topic == t.name)
                    .ok_or_else(|| QueueError::SubscriptionNotFound(cmd.id, t.name.clone()))?;
                let topic_owner = topic_access(store, &t, cmd.by)?.owner;
                let queue_owner = match store.queue(&s.queue)? {
                    Some(q) => queue_access(store, &q, cmd.by)?.owner,
                    None => false,
                };
                let creator = s.created_by == cmd.by.user_id.to_string();
                if !(topic_owner || queue_owner || creator) {
                    return Err(QueueError::Forbidden(format!(
                        "only the owner of topic `{}`, the owner of queue `{}` or whoever bound it may remove subscription {}",
                        t.name, s.queue, cmd.id
                    ))
                    .into());
                }
                store.delete_subscription(&s.id)?;
                Effects::reply(&subscription_view(s))
            }
            GetQueue::KIND => {
                let q: GetQueue = msg.decode()?;
                let row = load_queue(store, &q.name)?;
                let access = queue_access(store, &row, q.by)?;
                access.require(None, On::Queue, &row.name, "inspect")?;
                Effects::reply(&queue_view(store, &row, access, now)?)
            }
            ListQueues::KIND => {
                let q: ListQueues = msg.decode()?;
                let (rows, total) =
                    store.list_queues(&q.by.user_id.to_string(), q.by.admin, q.page)?;
                let mut items = Vec::with_capacity(rows.len());
                for row in rows {
                    let access = queue_access(store, &row, q.by)?;
                    items.push(queue_view(store, &row, access, now)?);
                }
                Effects::reply(&Paged {
                    items,
                    page: q.page.page,
                    page_size: q.page.page_size,
                    total: total as u64,
                })
            }
            ListDeadLetters::KIND => {
                let q: ListDeadLetters = msg.decode()?;
                let row = load_queue(store, &q.queue)?;
                queue_access(store, &row, q.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &row.name,
                    "read the dead letters of",
                )?;
                let (rows, total) = store.dead_letters(&row.name, q.page)?;
                Effects::reply(&Paged {
                    items: rows.into_iter().map(dead_view).collect(),
                    page: q.page.page,
                    page_size: q.page.page_size,
                    total: total as u64,
                })
            }
            Peek::KIND => {
                let q: Peek = msg.decode()?;
                let row = load_queue(store, &q.queue)?;
                queue_access(store, &row, q.by)?.require(
                    Some(Permission::Consume),
                    On::Queue,
                    &row.name,
                    "receive from",
                )?;
                let next = store.next_visible(&row.name)?;
                Effects::reply(&Head {
                    ready: next.is_some_and(|at| at <= now),
                    next_visible_at: next,
                    now,
                })
            }
            GetTopic::KIND => {
                let q: GetTopic = msg.decode()?;
                let t = load_topic(store, &q.name)?;
                let access = topic_access(store, &t, q.by)?;
                access.require(None, On::Topic, &t.name, "inspect")?;
                Effects::reply(&topic_view(store, &t, access)?)
            }
            ListTopics::KIND => {
                let q: ListTopics = msg.decode()?;
                let (rows, total) =
                    store.list_topics(&q.by.user_id.to_string(), q.by.admin, q.page)?;
                let mut items = Vec::with_capacity(rows.len());
                for t in rows {
                    let access = topic_access(store, &t, q.by)?;
                    items.push(topic_view(store, &t, access)?);
                }
                Effects::reply(&Paged {
                    items,
                    page: q.page.page,
                    page_size: q.page.page_size,
                    total: total as u64,
                })
            }
            CheckAccess::KIND => {
                let q: CheckAccess = msg.decode()?;
                let owner_id = match q.on {
                    On::Queue => load_queue(store, &q.name)?.owner_id,
                    On::Topic => load_topic(store, &q.name)?.owner_id,
                };
                let access = Access::of(store, q.on, &q.name, &owner_id, q.by)?;
                match q.need {
                    Need::Inspect => access.require(None, q.on, &q.name, &q.action)?,
                    Need::Publish => {
                        access.require(Some(Permission::Publish), q.on, &q.name, &q.action)?
                    }
                    Need::Consume => {
                        access.require(Some(Permission::Consume), q.on, &q.name, &q.action)?
                    }
                    Need::Owner => access.require_owner(q.on, &q.name, &q.action)?,
                }
                Effects::reply(&())
            }
            AllCounts::KIND => {
                let all = store.all_counts(now)?;
                Effects::reply(
                    &all.into_iter()
                        .map(|(name, c)| QueueCounts {
                            name,
                            depth: c.depth,
                            in_flight: c.in_flight,
                            dead: c.dead,
                        })
                        .collect::<Vec<_>>(),
                )
            }
            UserRegistered::TOPIC => {
                let e: UserRegistered = msg.decode()?;
                store.put_user(e.user_id, &normalize_email(&e.email))?;
                Effects::reply(&())
            }
            UserDeleted::TOPIC => {
                let e: UserDeleted = msg.decode()?;
                store.delete_user(e.user_id)?;
                Effects::reply(&())
            }
            other => Err(Problem::bad_request(format!("queues does not handle `{other}`")).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    use super::*;

    /// A fresh, migrated `queues.db` with two users, and a clock.
    struct Db {
        conn: crate::store::Conn,
        now: i64,
        ann: By,
        bob: By,
        _dir: tempfile::TempDir,
    }

    const ANN: &str = "ann@example.com";
    const BOB: &str = "bob@example.com";

    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::store::open(
            &dir.path().join("queues.db"),
            crate::store::migrations::QUEUES,
            1,
        )
        .unwrap();
        let mut db = Db {
            conn: pool.get().unwrap(),
            now: 1_700_000_000_000,
            ann: By {
                user_id: Uuid::now_v7(),
                admin: false,
            },
            bob: By {
                user_id: Uuid::now_v7(),
                admin: false,
            },
            _dir: dir,
        };
        for (who, email) in [(db.ann, ANN), (db.bob, BOB)] {
            db.ok::<()>(
                UserRegistered::TOPIC,
                json!({"user_id": who.user_id, "email": email, "name": "x", "role": "customer"}),
            );
        }
        db
    }

    impl Db {
        /// Delivers one envelope as the runtime does: in a savepoint that a
        /// failure rolls back.
        fn deliver(&mut self, kind: &str, payload: Value) -> Result<Effects, Failure> {
            self.now += 1;
            let payload = payload.to_string();
            let msg = Incoming {
                id: Uuid::now_v7(),
                kind,
                payload: &payload,
                created_at: self.now,
            };
            let mut out = None;
            let _ = diesel::Connection::transaction(&mut *self.conn, |c| {
                let r = Queues.handle(c, &msg);
                let failed = r.is_err();
                out = Some(r);
                if failed {
                    Err(diesel::result::Error::RollbackTransaction)
                } else {
                    Ok(())
                }
            });
            out.unwrap()
        }

        fn ok<T: DeserializeOwned>(&mut self, kind: &str, payload: Value) -> T {
            match self.deliver(kind, payload) {
                Ok(fx) => serde_json::from_value(fx.reply).unwrap(),
                Err(Failure::Rejected(p)) => panic!("{kind} rejected: {p:?}"),
                Err(Failure::Transient(e)) => panic!("{kind} failed: {e}"),
            }
        }

        fn err(&mut self, kind: &str, payload: Value) -> Problem {
            match self.deliver(kind, payload) {
                Ok(fx) => panic!("{kind} succeeded: {}", fx.reply),
                Err(Failure::Rejected(p)) => p,
                Err(Failure::Transient(e)) => panic!("{kind} failed: {e}"),
            }
        }

        fn create(&mut self, by: By, name: &str, extra: Value) -> QueueView {
            let mut body = json!({"by": by, "name": name});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            self.ok(CreateQueue::KIND, body)
        }

        fn publish(&mut self, by: By, queue: &str, body: &str) -> Uuid {
            self.ok::<Published>(
                Publish::KIND,
                json!({"by": by, "queue": queue, "body": body}),
            )
            .id
        }

        fn receive(&mut self, by: By, queue: &str, max: u32) -> Vec<Delivered> {
            self.ok::<Received>(Receive::KIND, json!({"by": by, "queue": queue, "max": max}))
                .messages
        }

        fn ack(&mut self, by: By, queue: &str, m: &Delivered) -> Result<Effects, Failure> {
            self.deliver(
                Ack::KIND,
                json!({"by": by, "queue": queue, "id": m.id, "receipt": m.receipt}),
            )
        }

        fn view(&mut self, by: By, queue: &str) -> QueueView {
            self.ok(GetQueue::KIND, json!({"by": by, "name": queue}))
        }

        fn dead(&mut self, by: By, queue: &str) -> Vec<DeadLetterView> {
            self.ok::<Paged<DeadLetterView>>(
                ListDeadLetters::KIND,
                json!({"by": by, "queue": queue, "page": {"page": 1, "page_size": 100}}),
            )
            .items
        }
    }

    #[test]
    fn messages_come_out_in_order_and_acked_ones_never_again() {
        let mut db = db();
        let ann = db.ann;
        let q = db.create(ann, "jobs", json!({}));
        assert_eq!((q.depth, q.in_flight, q.dead, q.owned), (0, 0, 0, true));
        let ids: Vec<Uuid> = (0..5)
            .map(|i| db.publish(ann, "jobs", &format!("m{i}")))
            .collect();
        let got = db.receive(ann, "jobs", 3);
        assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..3]);
        assert!(got.iter().all(|m| m.delivery_count == 1));
        let v = db.view(ann, "jobs");
        assert_eq!((v.depth, v.in_flight), (2, 3));
        let rest = db.receive(ann, "jobs", 10);
        assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), ids[3..]);
        for m in got.iter().chain(&rest) {
            db.ack(ann, "jobs", m).unwrap();
        }
        assert!(db.receive(ann, "jobs", 10).is_empty());
        let v = db.view(ann, "jobs");
        assert_eq!((v.depth, v.in_flight, v.dead), (0, 0, 0));
        // Acked: gone for good; acking it again with its receipt is a
        // repeat (answered, changing nothing), with another one a 404.
        db.ack(ann, "jobs", &got[0]).unwrap();
        assert!(db.receive(ann, "jobs", 10).is_empty());
        let v = db.view(ann, "jobs");
        assert_eq!((v.depth, v.in_flight, v.dead), (0, 0, 0));
        let other = Delivered {
            receipt: "not-its-receipt".into(),
            ..got[0].clone()
        };
        let p = match db.ack(ann, "jobs", &other) {
            Err(Failure::Rejected(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p.kind, ProblemKind::NotFound);
    }

    #[test]
    fn settling_twice_with_the_same_receipt_answers_as_the_first_and_changes_nothing() {
        let mut db = db();
        let ann = db.ann;
        db.create(ann, "twice", json!({"max_deliveries": 5}));
        for i in 0..3 {
            db.publish(ann, "twice", &format!("m{i}"));
        }
        let got = db.receive(ann, "twice", 3);
        // An ack, twice: both answer `acked`; one message is gone.
        for _ in 0..2 {
            let s: Settled =
                serde_json::from_value(db.ack(ann, "twice", &got[0]).unwrap().reply).unwrap();
            assert_eq!(s.status, "acked");
        }
        let nack = |db: &mut Db, m: &Delivered, requeue: bool| {
            db.deliver(
                Nack::KIND,
                json!({"by": ann, "queue": "twice", "id": m.id, "receipt": m.receipt, "requeue": requeue}),
            )
        };
        // A requeue, twice: the second does not requeue it again (its
        // delivery count and place stay); then it cannot be acked with the
        // receipt that gave it back (409).
        for _ in 0..2 {
            let s: Settled =
                serde_json::from_value(nack(&mut db, &got[1], true).unwrap().reply).unwrap();
            assert_eq!(s.status, "requeued");
        }
        // A reject, twice: one dead letter.
        for _ in 0..2 {
            let s: Settled =
                serde_json::from_value(nack(&mut db, &got[2], false).unwrap().reply).unwrap();
            assert_eq!(s.status, "dead_lettered");
        }
        let v = db.view(ann, "twice");
        assert_eq!((v.depth, v.in_flight, v.dead), (1, 0, 1));
        match db.ack(ann, "twice", &got[1]) {
            Err(Failure::Rejected(p)) => assert_eq!(p.kind, ProblemKind::Conflict),
            other => panic!("{other:?}"),
        }
        match nack(&mut db, &got[2], true) {
            Err(Failure::Rejected(p)) => assert_eq!(p.kind, ProblemKind::NotFound),
            other => panic!("{other:?}"),
        }
        // The batch ack counts a repeat as `acked` too.
        let out: AckedBatch = db.ok(
            AckBatch::KIND,
            json!({"by": ann, "queue": "twice", "acks": [{"id": got[0].id, "receipt": got[0].receipt}]}),
        );
        assert_eq!(out.results[0].status, "acked");
        let again = db.receive(ann, "twice", 10);
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].delivery_count), (got[1].id, 2));
    }

    #[test]
    fn an_expired_lease_redelivers_until_max_deliveries_then_dead_letters_and_redrive() {
        let mut db = db();
        let ann = db.ann;
        db.create(
            ann,
            "work",
            json!({"visibility_timeout_s": 1, "max_deliveries": 2}),
        );
        let id = db.publish(ann, "work", "x");
        let first = db.receive(ann, "work", 1);
        assert_eq!(first[0].delivery_count, 1);
        assert!(db.receive(ann, "work", 1).is_empty(), "leased: not visible");
        db.now += 1_000;
        let second = db.receive(ann, "work", 1);
        assert_eq!((second[0].id, second[0].delivery_count), (id, 2));
        assert_ne!(first[0].receipt, second[0].receipt);
        // The first receipt is stale now.
        let p = match db.ack(ann, "work", &first[0]) {
            Err(Failure::Rejected(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p.kind, ProblemKind::Conflict, "{p:?}");
        db.now += 1_000;
        assert!(db.receive(ann, "work", 1).is_empty(), "third: dead");
        let dead = db.dead(ann, "work");
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].id, dead[0].reason.as_str(), dead[0].delivery_count),
            (id, "max_deliveries", 2)
        );
        assert_eq!(db.view(ann, "work").dead, 1);
        let s: Settled = db.ok(Redrive::KIND, json!({"by": ann, "queue": "work", "id": id}));
        assert_eq!(s.status, "requeued");
        let again = db.receive(ann, "work", 1);
        assert_eq!((again[0].id, again[0].delivery_count), (id, 1));
        assert!(db.dead(ann, "work").is_empty());
        let p = db.err(Redrive::KIND, json!({"by": ann, "queue": "work", "id": id}));
        assert_eq!(p.kind, ProblemKind::NotFound);
    }

    #[test]
    fn a_batch_ack_settles_each_receipt_on_its_own() {
        let mut db = db();
        let ann = db.ann;
        db.create(ann, "b", json!({}));
        for i in 0..3 {
            db.publish(ann, "b", &format!("{i}"));
        }
        let got = db.receive(ann, "b", 3);
        db.ack(ann, "b", &got[2]).unwrap();
        let acks = json!([
            {"id": got[0].id, "receipt": got[0].receipt},
            {"id": got[1].id, "receipt": "not-it"},
            {"id": got[2].id, "receipt": "not-it-either"},
            // Already acked with this receipt: a repeat.
            {"id": got[2].id, "receipt": got[2].receipt},
        ]);
        let r: AckedBatch = db.ok(
            AckBatch::KIND,
            json!({"by": ann, "queue": "b", "acks": acks}),
        );
        let statuses: Vec<&str> = r.results.iter().map(|s| s.status.as_str()).collect();
        assert_eq!(statuses, ["acked", "stale_receipt", "not_found", "acked"]);
        let v = db.view(ann, "b");
        assert_eq!((v.depth, v.in_flight), (0, 1));
        let p = db.err(
            AckBatch::KIND,
            json!({"by": db.bob, "queue": "b", "acks": [{"id": got[1].id, "receipt": got[1].receipt}]}),
        );
        assert_eq!(p.kind, ProblemKind::Forbidden);
    }

    #[test]
    fn nack_requeues_after_its_delay_or_dead_letters() {
        let mut db = db();
        let ann = db.ann;
        db.create(ann, "n", json!({}));
        db.publish(ann, "n", "a");
        db.publish(ann, "n", "b");
        let got = db.receive(ann, "n", 2);
        let s: Settled = db.ok(
            Nack::KIND,
            json!({"by": ann, "queue": "n", "id": got[0].id, "receipt": got[0].receipt, "requeue": true, "delay_s": 5}),
        );
        assert_eq!(s.status, "requeued");
        let s: Settled = db.ok(
            Nack::KIND,
            json!({"by": ann, "queue": "n", "id": got[1].id, "receipt": got[1].receipt, "requeue": false}),
        );
        assert_eq!(s.status, "dead_lettered");
        assert!(db.receive(ann, "n", 2).is_empty(), "held back by the delay");
        db.now += 5_000;
        let again = db.receive(ann, "n", 2);
        assert_eq!(
            (again.len(), again[0].id, again[0].delivery_count),
            (1, got[0].id, 2)
        );
        assert_eq!(db.dead(ann, "n")[0].reason, "rejected");
    }

    #[test]
    fn delay_holds_a_message_back_and_ttl_dead_letters_it() {
        let mut db = db();
        let ann = db.ann;
        db.create(ann, "d", json!({"message_ttl_s": 10}));
        db.ok::<Published>(
            Publish::KIND,
            json!({"by": ann, "queue": "d", "body": "later", "delay_s": 3}),
        );
        let now_id = db.publish(ann, "d", "now");
        let got = db.receive(ann, "d", 10);
        assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), [now_id]);
        db.ack(ann, "d", &got[0]).unwrap();
        let head: Head = db.ok(Peek::KIND, json!({"by": ann, "queue": "d"}));
        assert!(!head.ready);
        assert_eq!(head.next_visible_at.map(|at| at > head.now), Some(true));
        db.now += 3_000;
        assert_eq!(db.receive(ann, "d", 10)[0].body, "later");
        // Not acked; its lease (30 s) outlives the TTL (10 s): expires at the next look.
        db.now += 30_000;
        assert!(db.receive(ann, "d", 10).is_empty());
        assert_eq!(db.dead(ann, "d")[0].reason, "expired");
    }

    #[test]
    fn only_the_owner_deletes_and_grants_and_grants_open_publish_and_consume() {
        let mut db = db();
        let (ann, bob) = (db.ann, db.bob);
        db.create(ann, "private", json!({}));
        let forbidden = |p: Problem| assert_eq!(p.kind, ProblemKind::Forbidden, "{p:?}");
        forbidden(db.err(
            Publish::KIND,
            json!({"by": bob, "queue": "private", "body": "x"}),
        ));
        forbidden(db.err(
            Receive::KIND,
            json!({"by": bob, "queue": "private", "max": 1}),
        ));
        forbidden(db.err(GetQueue::KIND, json!({"by": bob, "name": "private"})));
        forbidden(db.err(DeleteQueue::KIND, json!({"by": bob, "name": "private"})));
        forbidden(db.err(
            Grant::KIND,
            json!({"by": bob, "on": "queue", "name": "private", "user_email": BOB, "permissions": ["publish"]}),
        ));
        // 404 only for names that do not exist.
        let p = db.err(GetQueue::KIND, json!({"by": bob, "name": "nope"}));
        assert_eq!(p.kind, ProblemKind::NotFound);
        let p = db.err(
            Grant::KIND,
            json!({"by": ann, "on": "queue", "name": "private", "user_email": "who@example.com", "permissions": ["publish"]}),
        );
        assert_eq!(p.kind, ProblemKind::NotFound);

        let g: GrantView = db.ok(
            Grant::KIND,
            json!({"by": ann, "on": "queue", "name": "private", "user_email": " BOB@example.com", "permissions": ["consume", "publish"]}),
        );
        assert_eq!(g.user_id, bob.user_id);
        assert_eq!(g.permissions, [Permission::Publish, Permission::Consume]);
        let id = db.publish(bob, "private", "from bob");
        let got = db.receive(bob, "private", 1);
        assert_eq!(got[0].id, id);
        db.ack(bob, "private", &got[0]).unwrap();
        let v = db.view(bob, "private");
        assert!(!v.owned);
        assert_eq!(v.owner_email.as_deref(), Some(ANN));
        forbidden(db.err(DeleteQueue::KIND, json!({"by": bob, "name": "private"})));
        let list: Paged<QueueView> = db.ok(
            ListQueues::KIND,
            json!({"by": bob, "page": {"page": 1, "page_size": 20}}),
        );
        assert_eq!(list.total, 1);

        // Publish only: no consuming.
        db.ok::<GrantView>(
            Grant::KIND,
            json!({"by": ann, "on": "queue", "name": "private", "user_email": BOB, "permissions": ["publish"]}),
        );
        db.publish(bob, "private", "still");
        forbidden(db.err(
            Receive::KIND,
            json!({"by": bob, "queue": "private", "max": 1}),
        ));
        // Revoked; then the user is deleted and so are their grants.
        db.ok::<GrantView>(
            Grant::KIND,
            json!({"by": ann, "on": "queue", "name": "private", "user_email": BOB, "permissions": []}),
        );
        forbidden(db.err(GetQueue::KIND, json!({"by": bob, "name": "private"})));
        let admin = By {
            user_id: Uuid::now_v7(),
            admin: true,
        };
        assert!(db.view(admin, "private").owned);
        let all: Paged<QueueView> = db.ok(
            ListQueues::KIND,
            json!({"by": admin, "page": {"page": 1, "page_size": 20}}),
        );
        assert_eq!(all.total, 1);
        let none: Paged<QueueView> = db.ok(
            ListQueues::KIND,
            json!({"by": bob, "page": {"page": 1, "page_size": 20}}),
        );
        assert_eq!(none.total, 0);
        db.ok::<QueueView>(DeleteQueue::KIND, json!({"by": ann, "name": "private"}));
        let p = db.err(GetQueue::KIND, json!({"by": ann, "name": "private"}));
        assert_eq!(p.kind, ProblemKind::NotFound);
        db.create(ann, "dup", json!({}));
        let p = db.err(CreateQueue::KIND, json!({"by": bob, "name": "dup"}));
        assert_eq!(p.kind, ProblemKind::Conflict);
        db.ok::<()>(
            UserDeleted::TOPIC,
            json!({"user_id": bob.user_id, "email": BOB}),
        );
        let p = db.err(
            Grant::KIND,
            json!({"by": ann, "on": "queue", "name": "dup", "user_email": BOB, "permissions": ["publish"]}),
        );
        assert_eq!(p.kind, ProblemKind::NotFound, "{p:?}");
    }

    #[test]
    fn a_topic_fans_out_once_per_matching_queue() {
        let mut db = db();
        let (ann, bob) = (db.ann, db.bob);
        db.ok::<TopicView>(CreateTopic::KIND, json!({"by": ann, "name": "orders"}));
        db.create(ann, "all", json!({}));
        db.create(ann, "top", json!({}));
        for (q, p) in [("top", "order.*"), ("all", "order.#"), ("all", "#")] {
            db.ok::<SubscriptionView>(
                Bind::KIND,
                json!({"by": ann, "topic": "orders", "queue": q, "pattern": p}),
            );
        }
        let p = db.err(
            Bind::KIND,
            json!({"by": ann, "topic": "orders", "queue": "top", "pattern": "order.*"}),
        );
        assert_eq!(p.kind, ProblemKind::Conflict);
        let publish = |db: &mut Db, key: &str| -> TopicPublished {
            db.ok(
                PublishTopic::KIND,
                json!({"by": ann, "topic": "orders", "routing_key": key, "body": key}),
            )
        };
        assert_eq!(publish(&mut db, "order.created").queues, ["top", "all"]);
        assert_eq!(publish(&mut db, "order.item.added").queues, ["all"]);
        let top = db.receive(ann, "top", 10);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].routing_key.as_deref(), Some("order.created"));
        assert_eq!(top[0].topic.as_deref(), Some("orders"));
        let all = db.receive(ann, "all", 10);
        assert_eq!(
            all.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["order.created", "order.item.added"]
        );
        assert_ne!(top[0].id, all[0].id, "each copy has its own id");

        // Bob may not publish to or bind into the topic until granted, and
        // binds only into queues he may publish to.
        let p = db.err(
            PublishTopic::KIND,
            json!({"by": bob, "topic": "orders", "routing_key": "order.x", "body": ""}),
        );
        assert_eq!(p.kind, ProblemKind::Forbidden);
        db.create(bob, "bobs", json!({}));
        let p = db.err(
            Bind::KIND,
            json!({"by": bob, "topic": "orders", "queue": "bobs", "pattern": "#"}),
        );
        assert_eq!(p.kind, ProblemKind::Forbidden);
        db.ok::<GrantView>(
            Grant::KIND,
            json!({"by": ann, "on": "topic", "name": "orders", "user_email": BOB, "permissions": ["consume"]}),
        );
        let p = db.err(
            Bind::KIND,
            json!({"by": bob, "topic": "orders", "queue": "all", "pattern": "#"}),
        );
        assert_eq!(p.kind, ProblemKind::Forbidden, "not his queue");
        let s: SubscriptionView = db.ok(
            Bind::KIND,
            json!({"by": bob, "topic": "orders", "queue": "bobs", "pattern": "order.created"}),
        );
        assert_eq!(
            publish(&mut db, "order.created").queues,
            ["top", "all", "bobs"]
        );
        db.ok::<SubscriptionView>(
            Unbind::KIND,
            json!({"by": bob, "topic": "orders", "id": s.id}),
        );
        // Deleting a queue removes its subscriptions.
        db.ok::<QueueView>(DeleteQueue::KIND, json!({"by": ann, "name": "top"}));
        assert_eq!(publish(&mut db, "order.created").queues, ["all"]);
        let t: TopicView = db.ok(GetTopic::KIND, json!({"by": bob, "name": "orders"}));
        assert_eq!(t.subscriptions.len(), 2);
        assert_eq!(t.permissions, [Permission::Consume]);
        let page = json!({"page": 1, "page_size": 20});
        let mine: Paged<TopicView> = db.ok(ListTopics::KIND, json!({"by": bob, "page": page}));
        assert_eq!((mine.total, mine.items[0].name.as_str()), (1, "orders"));
    }

    #[test]
    fn rules_refuse_bad_names_bodies_and_ranges() {
        let by = By {
            user_id: Uuid::nil(),
            admin: false,
        };
        for bad in ["", "has space", "slash/", &"x".repeat(65), "ünï"] {
            let p: Problem = check_name("queue", bad).unwrap_err().into();
            assert_eq!(p.kind, ProblemKind::Unprocessable, "{bad:?}");
        }
        check_name("a.B-c_9", "a.B-c_9").unwrap();
        let big = Publish {
            by,
            queue: "q".into(),
            body: "x".repeat(MAX_BODY + 1),
            headers: BTreeMap::new(),
            delay_s: None,
        };
        assert_eq!(big.validate().unwrap_err().kind, ProblemKind::TooLarge);
        let ok = Publish {
            body: "x".repeat(MAX_BODY),
            ..big.clone()
        };
        ok.validate().unwrap();
        let receive = Receive {
            by,
            queue: "q".into(),
            max: 0,
            visibility_timeout_s: None,
        };
        assert_eq!(
            receive.validate().unwrap_err().kind,
            ProblemKind::Unprocessable
        );
        check_pattern("a.*.#").unwrap();
        check_pattern("a*").unwrap_err();
        check_routing_key("order.created").unwrap();
        check_routing_key("order.*").unwrap_err();
    }

    #[test]
    fn ids_and_receipts_derive_from_envelopes() {
        let e = Uuid::now_v7();
        assert_eq!(copy_id(e, "a"), copy_id(e, "a"));
        assert_ne!(copy_id(e, "a"), copy_id(e, "b"));
        assert_eq!(receipt(e, "m"), receipt(e, "m"));
        assert_ne!(receipt(e, "m"), receipt(Uuid::now_v7(), "m"));
        assert_eq!(receipt(e, "m").len(), 32);
    }
}
