//! The journal: `mom.db`'s `envelopes` table behind one writer thread that
//! commits in groups.
//!
//! Every write (append, complete, fail, retry) is a request on a channel. The
//! writer takes the first request, then everything else already queued (up to
//! [`MAX_GROUP`]), applies them all in one `BEGIN IMMEDIATE` transaction and
//! commits once — one fsync for the whole group — before answering any of
//! them. Nothing is acknowledged before its commit returned, and under load
//! groups grow by themselves, so durability does not cap throughput at the
//! disk's fsync rate. Reads go through a separate pool (WAL readers do not
//! block the writer).
use std::{path::Path, sync::mpsc, thread, time::Instant};

use diesel::{prelude::*, sqlite::SqliteConnection};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::envelope::{checksum, Envelope, NewEnvelope};
use crate::{
    problem::now_ms,
    store::{self, schema::envelopes, Pool},
};

/// Largest number of requests committed together.
pub const MAX_GROUP: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal storage error: {0}")]
    Store(String),
    #[error("journal writer is gone")]
    Closed,
}

impl From<diesel::result::Error> for JournalError {
    fn from(e: diesel::result::Error) -> Self {
        JournalError::Store(e.to_string())
    }
}

impl From<r2d2::Error> for JournalError {
    fn from(e: r2d2::Error) -> Self {
        JournalError::Store(e.to_string())
    }
}

/// What an append did with one envelope.
#[derive(Debug, Clone)]
pub enum Appended {
    /// Written; deliver it.
    New(Envelope),
    /// Its idempotency key was already used by envelope `id`.
    Existing { id: Uuid },
}

/// Acknowledge envelope `id` with `result` and write what it produced.
#[derive(Debug, Clone)]
pub struct Completion {
    pub id: Uuid,
    pub result: String,
    pub derived: Vec<NewEnvelope>,
}

/// After a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Still pending, with this many attempts.
    Retry(i32),
    /// Moved to the dead letters.
    Dead,
    /// Not pending any more (already done or dead).
    Gone,
}

/// One row as the operations and dead-letter views need it.
#[derive(Debug, Clone, Queryable)]
pub struct EnvelopeRow {
    pub seq: i64,
    pub id: String,
    pub destination: String,
    pub kind: String,
    pub payload: String,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub owner: Option<String>,
    pub attempts: i32,
    pub status: String,
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub checksum: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EnvelopeRow {
    /// The envelope, if its checksum still matches what was written.
    pub fn envelope(&self) -> Result<Envelope, String> {
        if checksum(&self.id, &self.destination, &self.kind, &self.payload) != self.checksum {
            return Err(format!("envelope {} fails its checksum", self.id));
        }
        let id = Uuid::parse_str(&self.id).map_err(|e| e.to_string())?;
        Ok(Envelope {
            seq: self.seq,
            id,
            destination: self.destination.clone(),
            kind: self.kind.clone(),
            payload: self.payload.clone(),
            correlation_id: self
                .correlation_id
                .as_deref()
                .and_then(|c| Uuid::parse_str(c).ok()),
            owner: self.owner.as_deref().and_then(|o| Uuid::parse_str(o).ok()),
            attempts: self.attempts,
            created_at: self.created_at,
        })
    }
}

/// One destination's backlog on disk: how many envelopes are pending and
/// the oldest few (for `/admin/actors`, to say what is stuck).
#[derive(Debug, Clone)]
pub struct Backlog {
    pub destination: String,
    pub count: i64,
    /// Oldest first.
    pub oldest: Vec<EnvelopeRow>,
}

enum Op {
    Append(
        Vec<NewEnvelope>,
        oneshot::Sender<Result<Vec<Appended>, JournalError>>,
    ),
    Complete(
        Vec<Completion>,
        oneshot::Sender<Result<Vec<Option<Vec<Envelope>>>, JournalError>>,
    ),
    Fail {
        id: Uuid,
        error: String,
        max_deliveries: i32,
        reply: oneshot::Sender<Result<Failed, JournalError>>,
    },
    Retry(
        Uuid,
        oneshot::Sender<Result<Option<Envelope>, JournalError>>,
    ),
    Prune(i64, oneshot::Sender<Result<usize, JournalError>>),
    /// Writes nothing; answered once every write requested before it has
    /// committed (or failed).
    Settled(oneshot::Sender<Result<(), JournalError>>),
}

enum OpResult {
    Append(Vec<Appended>),
    Complete(Vec<Option<Vec<Envelope>>>),
    Fail(Failed),
    Retry(Option<Envelope>),
    Prune(usize),
    Settled,
}

/// The answer to a journal request that is already on the writer's queue
/// (sent when the request was made, not when this is first polled).
pub struct Requested<T>(Option<oneshot::Receiver<Result<T, JournalError>>>);

impl<T> std::future::Future for Requested<T> {
    type Output = Result<T, JournalError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.0.as_mut() {
            None => std::task::Poll::Ready(Err(JournalError::Closed)),
            Some(rx) => std::pin::Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(JournalError::Closed))),
        }
    }
}

/// Handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Op>,
    reads: Pool,
}

impl Journal {
    /// Opens `path` (migrating it) and starts the writer thread.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        let reads = store::open(path, store::migrations::MOM, 4)?;
        let url = path.to_str().unwrap_or_default().to_owned();
        let mut conn = SqliteConnection::establish(&url)?;
        store::apply_pragmas(&mut conn)?;
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("mom-journal".into())
            .spawn(move || writer(conn, rx))?;
        Ok(Journal { tx, reads })
    }

    /// Puts a request on the writer's queue now; the returned future is
    /// its answer. The order of these calls is the order the writer applies
    /// the requests in (so the order of the `seq`s they assign).
    fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, JournalError>>) -> Op,
    ) -> Requested<T> {
        let (reply, rx) = oneshot::channel();
        Requested(self.tx.send(make(reply)).ok().map(|_| rx))
    }

    /// Writes `envs` durably (deduplicating idempotency keys).
    pub fn append(&self, envs: Vec<NewEnvelope>) -> Requested<Vec<Appended>> {
        self.call(|r| Op::Append(envs, r))
    }

    /// Marks envelopes done and writes what they produced, atomically; per
    /// item, the derived envelopes written, or `None` if it was not pending.
    pub fn complete(&self, items: Vec<Completion>) -> Requested<Vec<Option<Vec<Envelope>>>> {
        self.call(|r| Op::Complete(items, r))
    }

    /// Counts a failed delivery; dead-letters at `max_deliveries`.
    pub fn fail(&self, id: Uuid, error: String, max_deliveries: i32) -> Requested<Failed> {
        self.call(|reply| Op::Fail {
            id,
            error,
            max_deliveries,
            reply,
        })
    }

    /// Puts a dead letter back to pending with zero attempts.
    pub fn retry(&self, id: Uuid) -> Requested<Option<Envelope>> {
        self.call(|r| Op::Retry(id, r))
    }

    /// Deletes done envelopes last touched before `before_ms`.
    pub fn prune(&self, before_ms: i64) -> Requested<usize> {
        self.call(|r| Op::Prune(before_ms, r))
    }

    /// Resolves once every write requested before this call has committed
    /// or failed. The writer answers requests in the order they were sent,
    /// each after its group's commit, so a read made after this sees every
    /// earlier write that succeeded — even one whose requester has gone
    /// (a post office that died with a completion on its way to disk).
    pub fn settled(&self) -> Requested<()> {
        self.call(Op::Settled)
    }

    /// Every pending envelope in journal order (blocking).
    pub fn load_pending(&self) -> Result<Vec<EnvelopeRow>, JournalError> {
        let mut c = self.reads.get()?;
        Ok(envelopes::table
            .filter(envelopes::status.eq("pending"))
            .order(envelopes::seq.asc())
            .load(&mut c)?)
    }

    /// Per destination with pending envelopes: their count and the oldest
    /// `per` of them (blocking).
    pub fn backlogs(&self, per: i64) -> Result<Vec<Backlog>, JournalError> {
        let mut c = self.reads.get()?;
        let counts: Vec<(String, i64)> = envelopes::table
            .filter(envelopes::status.eq("pending"))
            .group_by(envelopes::destination)
            .select((envelopes::destination, diesel::dsl::count_star()))
            .load(&mut c)?;
        let mut out = Vec::with_capacity(counts.len());
        for (destination, count) in counts {
            let oldest = envelopes::table
                .filter(envelopes::status.eq("pending"))
                .filter(envelopes::destination.eq(&destination))
                .order(envelopes::seq.asc())
                .limit(per)
                .load(&mut c)?;
            out.push(Backlog {
                destination,
                count,
                oldest,
            });
        }
        Ok(out)
    }

    /// One envelope by id (blocking).
    pub fn find(&self, id: Uuid) -> Result<Option<EnvelopeRow>, JournalError> {
        let mut c = self.reads.get()?;
        Ok(envelopes::table
            .filter(envelopes::id.eq(id.to_string()))
            .first(&mut c)
            .optional()?)
    }

    /// A page of dead letters, oldest first, and their total (blocking).
    pub fn dead_letters(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<EnvelopeRow>, i64), JournalError> {
        let mut c = self.reads.get()?;
        let rows = envelopes::table
            .filter(envelopes::status.eq("dead"))
            .order(envelopes::seq.asc())
            .offset(offset)
            .limit(limit)
            .load(&mut c)?;
        let total = envelopes::table
            .filter(envelopes::status.eq("dead"))
            .count()
            .get_result(&mut c)?;
        Ok((rows, total))
    }

    /// Envelope counts by status (blocking).
    pub fn counts(&self) -> Result<Vec<(String, i64)>, JournalError> {
        let mut c = self.reads.get()?;
        Ok(envelopes::table
            .group_by(envelopes::status)
            .select((envelopes::status, diesel::dsl::count_star()))
            .load(&mut c)?)
    }
}

fn writer(mut conn: SqliteConnection, rx: mpsc::Receiver<Op>) {
    let metrics = crate::metrics::get();
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = conn.immediate_transaction(|c| {
            group
                .iter()
                .map(|op| apply(c, op))
                .collect::<QueryResult<Vec<OpResult>>>()
        });
        metrics.journal_group_size.observe(group.len() as f64);
        metrics
            .journal_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(results) => {
                for (op, res) in group.into_iter().zip(results) {
                    answer(op, Ok(res));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = group.len(), "journal group commit failed");
                for op in group {
                    answer(op, Err(JournalError::Store(e.to_string())));
                }
            }
        }
    }
}

fn answer(op: Op, res: Result<OpResult, JournalError>) {
    // A requester that stopped waiting is fine: the write stands.
    match (op, res) {
        (Op::Append(_, r), Ok(OpResult::Append(v))) => drop(r.send(Ok(v))),
        (Op::Complete(_, r), Ok(OpResult::Complete(v))) => drop(r.send(Ok(v))),
        (Op::Fail { reply, .. }, Ok(OpResult::Fail(v))) => drop(reply.send(Ok(v))),
        (Op::Retry(_, r), Ok(OpResult::Retry(v))) => drop(r.send(Ok(v))),
        (Op::Prune(_, r), Ok(OpResult::Prune(v))) => drop(r.send(Ok(v))),
        (Op::Append(_, r), Err(e)) => drop(r.send(Err(e))),
        (Op::Complete(_, r), Err(e)) => drop(r.send(Err(e))),
        (Op::Fail { reply, .. }, Err(e)) => drop(reply.send(Err(e))),
        (Op::Retry(_, r), Err(e)) => drop(r.send(Err(e))),
        (Op::Prune(_, r), Err(e)) => drop(r.send(Err(e))),
        // Nothing of a failed group was written: there is nothing to wait for.
        (Op::Settled(r), _) => drop(r.send(Ok(()))),
        _ => unreachable!("journal answered an op with another op's result"),
    }
}

fn apply(c: &mut SqliteConnection, op: &Op) -> QueryResult<OpResult> {
    Ok(match op {
        Op::Append(envs, _) => {
            let mut out = Vec::with_capacity(envs.len());
            for e in envs {
                if let Some(key) = &e.idempotency_key {
                    let existing: Option<String> = envelopes::table
                        .filter(envelopes::idempotency_key.eq(key))
                        .select(envelopes::id)
                        .first(c)
                        .optional()?;
                    if let Some(id) = existing {
                        out.push(Appended::Existing {
                            id: Uuid::parse_str(&id).unwrap_or_default(),
                        });
                        continue;
                    }
                }
                out.push(Appended::New(insert(c, e)?));
            }
            OpResult::Append(out)
        }
        Op::Complete(items, _) => {
            let now = now_ms();
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let n = diesel::update(
                    envelopes::table
                        .filter(envelopes::id.eq(item.id.to_string()))
                        .filter(envelopes::status.eq("pending")),
                )
                .set((
                    envelopes::status.eq("done"),
                    envelopes::result.eq(&item.result),
                    envelopes::updated_at.eq(now),
                ))
                .execute(c)?;
                if n == 0 {
                    out.push(None);
                    continue;
                }
                let derived = item
                    .derived
                    .iter()
                    .map(|e| insert(c, e))
                    .collect::<QueryResult<Vec<_>>>()?;
                out.push(Some(derived));
            }
            OpResult::Complete(out)
        }
        Op::Fail {
            id,
            error,
            max_deliveries,
            ..
        } => {
            let id = id.to_string();
            let pending = envelopes::table
                .filter(envelopes::id.eq(&id))
                .filter(envelopes::status.eq("pending"));
            let attempts: Option<i32> = diesel::update(pending)
                .set((
                    envelopes::attempts.eq(envelopes::attempts + 1),
                    envelopes::last_error.eq(error),
                    envelopes::updated_at.eq(now_ms()),
                ))
                .returning(envelopes::attempts)
                .get_result(c)
                .optional()?;
            OpResult::Fail(match attempts {
                None => Failed::Gone,
                Some(a) if a >= *max_deliveries => {
                    diesel::update(envelopes::table.filter(envelopes::id.eq(&id)))
                        .set(envelopes::status.eq("dead"))
                        .execute(c)?;
                    Failed::Dead
                }
                Some(a) => Failed::Retry(a),
            })
        }
        Op::Retry(id, _) => {
            let id = id.to_string();
            let dead = envelopes::table
                .filter(envelopes::id.eq(&id))
                .filter(envelopes::status.eq("dead"));
            // A corrupt record stays dead: it is never handed to an actor.
            let envelope = dead
                .first::<EnvelopeRow>(c)
                .optional()?
                .and_then(|r| r.envelope().ok());
            if envelope.is_some() {
                diesel::update(dead)
                    .set((
                        envelopes::status.eq("pending"),
                        envelopes::attempts.eq(0),
                        envelopes::updated_at.eq(now_ms()),
                    ))
                    .execute(c)?;
            }
            OpResult::Retry(envelope.map(|e| Envelope { attempts: 0, ..e }))
        }
        Op::Settled(_) => OpResult::Settled,
        Op::Prune(before, _) => OpResult::Prune(
            diesel::delete(
                envelopes::table
                    .filter(envelopes::status.eq("done"))
                    .filter(envelopes::updated_at.lt(before)),
            )
            .execute(c)?,
        ),
    })
}

fn insert(c: &mut SqliteConnection, e: &NewEnvelope) -> QueryResult<Envelope> {
    let now = now_ms();
    let id = e.id.to_string();
    let sum = checksum(&id, &e.destination, &e.kind, &e.payload);
    let seq: i64 = diesel::insert_into(envelopes::table)
        .values((
            envelopes::id.eq(&id),
            envelopes::destination.eq(&e.destination),
            envelopes::kind.eq(&e.kind),
            envelopes::payload.eq(&e.payload),
            envelopes::correlation_id.eq(e.correlation_id.map(|c| c.to_string())),
            envelopes::idempotency_key.eq(&e.idempotency_key),
            envelopes::owner.eq(e.owner.map(|o| o.to_string())),
            envelopes::attempts.eq(0),
            envelopes::status.eq("pending"),
            envelopes::checksum.eq(sum),
            envelopes::created_at.eq(now),
            envelopes::updated_at.eq(now),
        ))
        .returning(envelopes::seq)
        .get_result(c)?;
    Ok(Envelope {
        seq,
        id: e.id,
        destination: e.destination.clone(),
        kind: e.kind.clone(),
        payload: e.payload.clone(),
        correlation_id: e.correlation_id,
        owner: e.owner,
        attempts: 0,
        created_at: now,
    })
}
