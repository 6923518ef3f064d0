//! The MOM — mailroom's post office. See `src/mom/README.md` for the
//! delivery guarantees (ordering, crash and power-loss behaviour, when
//! duplicates reach a handler and why they do no harm).
//!
//! - [`journal`]: the durable envelope log with group commit.
//! - [`post_office`]: the supervised actor that routes, delivers, replays.
//! - [`registry`]: actor slots (stats, faults, current incarnation).
//! - [`topics`]: AMQP-style pattern matching and subscriptions.
//! - [`Mom`]: the handle the edges use — [`Mom::execute`] for commands,
//!   [`Mom::ask`] for reads, operations and dead letters.
pub mod control;
pub mod envelope;
pub mod journal;
pub mod message;
pub mod post_office;
pub mod registry;
pub mod supervision;
pub mod topics;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::oneshot;
use uuid::Uuid;

use envelope::NewEnvelope;
pub use envelope::{Envelope, OpStatus, Outcome, Reply};
use journal::{Appended, EnvelopeRow, Journal};
pub use message::{Command, Destination, Event, Handles, Message, Query};
use post_office::{Ask, PostOffice, RetryDead, Submit};
use registry::Registry;
use topics::Bindings;

use crate::problem::{Page, Paged, Problem};

/// The MOM's own actor name (for faults and `/admin/actors`).
pub const MOM_ACTOR: &str = "mom";

/// How long past the persist deadline an edge waits for the journal's answer.
const SUBMIT_GRACE: Duration = Duration::from_secs(2);
/// How often a read polls for a restarting destination.
const ASK_POLL: Duration = Duration::from_millis(10);
/// The least time a command gets to be persisted, whatever its wait budget.
const PERSIST_BUDGET: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct MomConfig {
    /// Failed deliveries before an envelope is dead-lettered.
    pub max_deliveries: i32,
    /// Most envelopes handed to an actor at once.
    pub batch_size: usize,
    /// How long done envelopes (and so idempotency keys and operations) are kept.
    pub retention: Duration,
}

impl Default for MomConfig {
    fn default() -> Self {
        Self {
            max_deliveries: 5,
            batch_size: 256,
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MomError {
    /// The destination answered with a problem (business rule, not found, ...).
    #[error(transparent)]
    Rejected(#[from] Problem),
    /// Nothing was recorded (or a read found its actor down): try again.
    #[error("{0}")]
    Unavailable(String),
    /// The command was dead-lettered.
    #[error("operation {id} failed permanently and was dead-lettered: {error}")]
    Dead { id: Uuid, error: String },
}

impl From<MomError> for Problem {
    fn from(e: MomError) -> Self {
        match e {
            MomError::Rejected(p) => p,
            MomError::Unavailable(d) => Problem::unavailable(d),
            e @ MomError::Dead { .. } => Problem::internal(e.to_string()),
        }
    }
}

/// Edges waiting for operations to finish, kept outside the post office so a
/// waiter survives the post office's restart.
#[derive(Default)]
pub struct Waiters {
    map: Mutex<HashMap<Uuid, Vec<oneshot::Sender<OpStatus>>>>,
}

impl Waiters {
    pub fn register(&self, id: Uuid) -> oneshot::Receiver<OpStatus> {
        let (tx, rx) = oneshot::channel();
        self.map
            .lock()
            .expect("waiters lock")
            .entry(id)
            .or_default()
            .push(tx);
        rx
    }
    pub fn notify(&self, id: Uuid, status: OpStatus) {
        if let Some(list) = self.map.lock().expect("waiters lock").remove(&id) {
            for tx in list {
                let _ = tx.send(status.clone());
            }
        }
    }
    /// Drops waiters whose edge stopped waiting.
    fn forget_closed(&self, id: Uuid) {
        let mut map = self.map.lock().expect("waiters lock");
        if let Some(list) = map.get_mut(&id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                map.remove(&id);
            }
        }
    }
}

/// State shared by the post office and the handles.
pub struct Core {
    pub journal: Journal,
    pub registry: Arc<Registry>,
    pub waiters: Waiters,
    pub bindings: Bindings,
    pub max_deliveries: i32,
    pub batch_size: usize,
    pub retention: Duration,
}

impl Core {
    /// The envelopes an outcome produces: one per subscriber per event, one
    /// per command sent.
    fn derive(&self, source: &Envelope, outcome: &Outcome) -> Vec<NewEnvelope> {
        let mut out = Vec::new();
        for p in &outcome.publish {
            for dest in self.bindings.destinations(&p.topic) {
                out.push(NewEnvelope {
                    id: Uuid::now_v7(),
                    destination: dest,
                    kind: p.topic.clone(),
                    payload: p.payload.clone(),
                    correlation_id: Some(source.id),
                    idempotency_key: None,
                    owner: None,
                });
            }
        }
        for s in &outcome.send {
            out.push(NewEnvelope {
                id: Uuid::now_v7(),
                destination: s.destination.clone(),
                kind: s.kind.clone(),
                payload: s.payload.clone(),
                correlation_id: Some(source.id),
                idempotency_key: None,
                owner: source.owner,
            });
        }
        out
    }
}

/// How an edge wants a command run.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The caller; owns the operation and scopes its idempotency key.
    pub owner: Option<Uuid>,
    pub idempotency_key: Option<String>,
    /// How long to wait for the result before answering "accepted".
    pub wait: Duration,
}

/// Longest `Prefer: wait=N` honoured.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

impl ExecOptions {
    /// Parses what both edges carry the same way — the `Idempotency-Key`
    /// header (`idempotency-key` metadata) and every `Prefer` value — so the
    /// two edges cannot disagree.
    pub fn parse<'a>(
        owner: Option<Uuid>,
        idempotency_key: Option<&[u8]>,
        prefer: impl IntoIterator<Item = &'a str>,
        default_wait: Duration,
    ) -> Result<Self, Problem> {
        Ok(Self {
            owner,
            idempotency_key: idempotency_key.map(parse_key).transpose()?,
            wait: wait_budget(prefer, default_wait),
        })
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn parse_key(raw: &[u8]) -> Result<String, Problem> {
    if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY || !raw.iter().all(u8::is_ascii_graphic) {
        return Err(Problem::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
        .with_code("bad_idempotency_key"));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// The wait budget: the first `wait=N` (seconds, at most [`MAX_WAIT`]) in
/// any of the `Prefer` values, else `default`.
pub fn wait_budget<'a>(prefer: impl IntoIterator<Item = &'a str>, default: Duration) -> Duration {
    prefer
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("wait="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_WAIT))
        .unwrap_or(default)
}

/// A command's fate within the wait budget.
#[derive(Debug)]
pub enum Executed<R> {
    Done(R),
    /// Durable but not finished: poll the operation.
    Accepted(Uuid),
}

/// An operation as the edges show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Operation {
    pub id: Uuid,
    /// pending | done | failed | dead
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
    #[serde(skip)]
    pub owner: Option<Uuid>,
}

/// A dead letter as the admin endpoints show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: Uuid,
    pub destination: String,
    pub message_type: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: String,
}

fn operation_from_row(row: &EnvelopeRow) -> Operation {
    let id = Uuid::parse_str(&row.id).unwrap_or_default();
    let owner = row.owner.as_deref().and_then(|o| Uuid::parse_str(o).ok());
    let reply: Option<Reply> = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let (status, result, error) = match (row.status.as_str(), reply) {
        ("done", Some(Ok(v))) => ("done", Some(v), None),
        ("done", Some(Err(p))) => ("failed", None, Some(p)),
        ("dead", _) => (
            "dead",
            None,
            Some(Problem::internal(
                row.last_error.clone().unwrap_or_default(),
            )),
        ),
        _ => ("pending", None, None),
    };
    Operation {
        id,
        status: status.into(),
        result,
        error,
        owner,
    }
}

/// The handle every edge holds.
#[derive(Clone)]
pub struct Mom {
    core: Arc<Core>,
    post_office: Addr<PostOffice>,
}

impl Mom {
    /// Opens the journal at `path` and starts the post office under a
    /// supervisor on its own arbiter thread. It loads and replays every
    /// pending envelope before it accepts new ones.
    pub fn start(path: &Path, config: MomConfig, registry: Arc<Registry>) -> anyhow::Result<Mom> {
        let journal = Journal::open(path)?;
        registry.slot(MOM_ACTOR);
        let core = Arc::new(Core {
            journal,
            registry,
            waiters: Waiters::default(),
            bindings: Bindings::default(),
            max_deliveries: config.max_deliveries.max(1),
            batch_size: config.batch_size.max(1),
            retention: config.retention,
        });
        let c = core.clone();
        let arbiter = Arbiter::new();
        let post_office =
            actix::Supervisor::start_in_arbiter(&arbiter.handle(), move |_| PostOffice::new(c));
        core.registry
            .slot(MOM_ACTOR)
            .keep(post_office.clone().recipient());
        Ok(Mom { core, post_office })
    }

    /// How long done envelopes (and inbox records) are kept.
    pub fn retention(&self) -> Duration {
        self.core.retention
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.core.registry
    }

    pub fn post_office(&self) -> &Addr<PostOffice> {
        &self.post_office
    }

    /// Subscribes `destination` to events matching `pattern`.
    pub fn bind(&self, destination: &str, pattern: &str) {
        self.core.bindings.bind(destination, pattern);
    }

    /// Journals `cmd` (fsync), delivers it, and waits up to `opts.wait` for
    /// its result. A repeated idempotency key answers with the first
    /// command's operation.
    pub async fn execute<C: Command>(
        &self,
        cmd: &C,
        opts: ExecOptions,
    ) -> Result<Executed<C::Reply>, MomError>
    where
        C::To: Handles<C>,
    {
        cmd.validate()?;
        let now = Instant::now();
        // The result may be awaited for `wait` (even zero); persisting always
        // gets at least PERSIST_BUDGET.
        let deadline = now + opts.wait;
        let persist_deadline = now + opts.wait.max(PERSIST_BUDGET);
        let id = Uuid::now_v7();
        let payload = serde_json::to_string(cmd)
            .map_err(|e| Problem::bad_request(format!("unserializable command: {e}")))?;
        let idempotency_key = opts.idempotency_key.map(|k| {
            let who = opts
                .owner
                .map(|o| o.to_string())
                .unwrap_or_else(|| "-".into());
            format!("{who}:{}:{k}", C::KIND)
        });
        let env = NewEnvelope {
            id,
            destination: <C::To as Destination>::NAME.into(),
            kind: C::KIND.into(),
            payload,
            correlation_id: None,
            idempotency_key,
            owner: opts.owner,
        };
        let rx = self.core.waiters.register(id);
        let submit = self.post_office.send(Submit {
            envelopes: vec![env],
            deadline: persist_deadline,
        });
        let appended =
            match tokio::time::timeout_at((persist_deadline + SUBMIT_GRACE).into(), submit).await {
                Ok(Ok(Ok(mut a))) if a.len() == 1 => a.remove(0),
                Ok(Ok(Err(e))) => {
                    drop(rx);
                    self.core.waiters.forget_closed(id);
                    return Err(e);
                }
                _ => {
                    drop(rx);
                    self.core.waiters.forget_closed(id);
                    // It may have been written after all: then say so. A
                    // post office that died (or is slow) may have sent the
                    // append to the journal without seeing it commit; let
                    // that settle first, so "nothing was recorded" is true.
                    let _ = tokio::time::timeout(SUBMIT_GRACE, self.core.journal.settled()).await;
                    if let Ok(Some(_)) = self.operation(id).await {
                        return Ok(Executed::Accepted(id));
                    }
                    return Err(MomError::Unavailable(
                        "the MOM did not confirm the command in time; nothing was recorded".into(),
                    ));
                }
            };
        match appended {
            Appended::New(_) => self.wait_for(id, rx, deadline).await,
            Appended::Existing { id: first } => {
                drop(rx);
                self.core.waiters.forget_closed(id);
                let rx = self.core.waiters.register(first);
                // It may have finished before we started listening.
                if let Some(op) = self.operation(first).await? {
                    if op.status != "pending" {
                        drop(rx);
                        self.core.waiters.forget_closed(first);
                        return settle(first, op);
                    }
                }
                self.wait_for(first, rx, deadline).await
            }
        }
    }

    async fn wait_for<R: serde::de::DeserializeOwned>(
        &self,
        id: Uuid,
        rx: oneshot::Receiver<OpStatus>,
        deadline: Instant,
    ) -> Result<Executed<R>, MomError> {
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(OpStatus::Done(Ok(v)))) => decode(v).map(Executed::Done),
            Ok(Ok(OpStatus::Done(Err(p)))) => Err(MomError::Rejected(p)),
            Ok(Ok(OpStatus::Dead(error))) => Err(MomError::Dead { id, error }),
            _ => {
                self.core.waiters.forget_closed(id);
                Ok(Executed::Accepted(id))
            }
        }
    }

    /// Sends a read to the destination's current incarnation.
    /// Sends a read to the destination's current incarnation. A destination
    /// that is restarting is waited for (polling its link) until the wait
    /// budget runs out; only then is the answer `Unavailable`.
    pub async fn ask<Q: Query>(&self, query: &Q, wait: Duration) -> Result<Q::Reply, MomError>
    where
        Q::To: Handles<Q>,
    {
        query.validate()?;
        let payload = serde_json::to_string(query)
            .map_err(|e| Problem::bad_request(format!("unserializable query: {e}")))?;
        let deadline = tokio::time::Instant::now() + wait;
        let slot = self.core.registry.get(<Q::To as Destination>::NAME);
        loop {
            if let Some(link) = slot.as_ref().and_then(|s| s.link()) {
                let ask = link.ask.send(Ask {
                    kind: Q::KIND,
                    payload: payload.clone(),
                });
                match tokio::time::timeout_at(deadline, ask).await {
                    Ok(Ok(Ok(v))) => return decode(v),
                    Ok(Ok(Err(p))) => return Err(MomError::Rejected(p)),
                    Ok(Err(_)) => {} // that incarnation just stopped: wait for the next
                    Err(_) => {
                        return Err(MomError::Unavailable(format!(
                            "{} did not answer within {} ms",
                            <Q::To as Destination>::NAME,
                            wait.as_millis()
                        )))
                    }
                }
            }
            if tokio::time::Instant::now() + ASK_POLL >= deadline {
                return Err(MomError::Unavailable(format!(
                    "{} is restarting; retry shortly",
                    <Q::To as Destination>::NAME
                )));
            }
            tokio::time::sleep(ASK_POLL).await;
        }
    }

    /// One operation (journaled command) by id.
    pub async fn operation(&self, id: Uuid) -> Result<Option<Operation>, MomError> {
        let journal = self.core.journal.clone();
        let row = tokio::task::spawn_blocking(move || journal.find(id))
            .await
            .map_err(|e| MomError::Unavailable(e.to_string()))?
            .map_err(|e| MomError::Unavailable(e.to_string()))?;
        Ok(row.as_ref().map(operation_from_row))
    }

    pub async fn dead_letters(&self, page: Page) -> Result<Paged<DeadLetter>, MomError> {
        let journal = self.core.journal.clone();
        let (rows, total) =
            tokio::task::spawn_blocking(move || journal.dead_letters(page.offset(), page.limit()))
                .await
                .map_err(|e| MomError::Unavailable(e.to_string()))?
                .map_err(|e| MomError::Unavailable(e.to_string()))?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(|r| DeadLetter {
                    id: Uuid::parse_str(&r.id).unwrap_or_default(),
                    payload: serde_json::from_str(&r.payload)
                        .unwrap_or(serde_json::Value::String(r.payload.clone())),
                    destination: r.destination,
                    message_type: r.kind,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    created_at: crate::problem::rfc3339(r.created_at),
                })
                .collect(),
            page: page.page,
            page_size: page.page_size,
            total: total as u64,
        })
    }

    /// Puts a dead letter back in its queue; `false` if `id` is not dead.
    pub async fn retry_dead(&self, id: Uuid) -> Result<bool, MomError> {
        self.post_office
            .send(RetryDead(id))
            .await
            .map_err(|_| MomError::Unavailable("the MOM is restarting; retry shortly".into()))?
    }

    /// Every destination's backlog on disk (pending envelopes, the oldest
    /// `per` of each): what the journal says is still to be delivered,
    /// whatever the post office holds in memory.
    pub async fn backlogs(&self, per: i64) -> Result<Vec<journal::Backlog>, MomError> {
        let journal = self.core.journal.clone();
        tokio::task::spawn_blocking(move || journal.backlogs(per))
            .await
            .map_err(|e| MomError::Unavailable(e.to_string()))?
            .map_err(|e| MomError::Unavailable(e.to_string()))
    }

    /// Envelope counts by status, for `/metrics`.
    pub async fn counts(&self) -> Vec<(String, i64)> {
        let journal = self.core.journal.clone();
        tokio::task::spawn_blocking(move || journal.counts())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}

fn decode<R: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<R, MomError> {
    serde_json::from_value(v)
        .map_err(|e| MomError::Rejected(Problem::internal(format!("undecodable reply: {e}"))))
}

fn settle<R: serde::de::DeserializeOwned>(
    id: Uuid,
    op: Operation,
) -> Result<Executed<R>, MomError> {
    match (op.status.as_str(), op.result, op.error) {
        ("done", Some(v), _) => decode(v).map(Executed::Done),
        ("failed", _, Some(p)) => Err(MomError::Rejected(p)),
        ("dead", _, p) => Err(MomError::Dead {
            id,
            error: p.map(|p| p.detail).unwrap_or_default(),
        }),
        _ => Ok(Executed::Accepted(id)),
    }
}
