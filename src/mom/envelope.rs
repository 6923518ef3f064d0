//! Envelopes and what a destination answers for one.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::Problem;

/// A message on its way to a destination, as written in the journal.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Journal order; replay is in `seq` order per destination.
    pub seq: i64,
    /// Also the operation id the edges hand out, and the inbox key.
    pub id: Uuid,
    /// The actor it is for ("wallets", "notifications", ...).
    pub destination: String,
    /// The message type: a command's `KIND` or an event's topic.
    pub kind: String,
    /// JSON.
    pub payload: String,
    /// The envelope whose processing produced this one, if any.
    pub correlation_id: Option<Uuid>,
    /// The user who sent it (operation owner), if it came from an edge.
    pub owner: Option<Uuid>,
    /// Failed deliveries so far.
    pub attempts: i32,
    pub created_at: i64,
}

/// An envelope before the journal has numbered it.
#[derive(Debug, Clone)]
pub struct NewEnvelope {
    pub id: Uuid,
    pub destination: String,
    pub kind: String,
    pub payload: String,
    pub correlation_id: Option<Uuid>,
    /// Scoped key (`owner:kind:key`); a second append with it returns the first.
    pub idempotency_key: Option<String>,
    pub owner: Option<Uuid>,
}

/// CRC-32 over the fields that must not change between write and replay.
pub fn checksum(id: &str, destination: &str, kind: &str, payload: &str) -> i64 {
    let mut h = crc32fast::Hasher::new();
    for part in [id, destination, kind, payload] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    i64::from(h.finalize())
}

/// The reply part of an outcome: a JSON value or a problem.
pub type Reply = Result<serde_json::Value, Problem>;

/// An event to publish on the `events` topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publish {
    pub topic: String,
    pub payload: String,
}

/// A command for another service (saga steps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dispatch {
    pub destination: String,
    pub kind: String,
    pub payload: String,
}

/// Everything one envelope produced. Recorded whole in the service's inbox,
/// so a replayed duplicate re-emits exactly the same events and commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub reply: Reply,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<Publish>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<Dispatch>,
}

impl Outcome {
    pub fn rejected(problem: Problem) -> Self {
        Self {
            reply: Err(problem),
            publish: Vec::new(),
            send: Vec::new(),
        }
    }
}

/// Where an operation (a journaled command) stands.
#[derive(Debug, Clone)]
pub enum OpStatus {
    Pending,
    Done(Reply),
    /// Dead-lettered, with the last error.
    Dead(String),
}
