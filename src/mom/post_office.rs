//! The post office: the MOM's own supervised actor.
//!
//! It keeps, per destination, the pending envelopes in journal order and at
//! most one batch in flight. A batch goes to the destination's current
//! incarnation as one [`Deliver`]; the [`BatchReport`] that comes back is
//! journaled (done + derived events/commands in one group-committed
//! transaction) before any waiting edge is told. Failures are counted in the
//! journal and dead-lettered at `max_deliveries`; the destination holds still
//! until the failure is recorded, so later envelopes never overtake it.
//!
//! It holds no state that is not in the journal: killed (fault `kill` on
//! `mom`) or crashed, its supervisor restarts it and `started` reloads every
//! pending envelope from disk.
use std::{
    collections::{HashMap, VecDeque},
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    time::{Duration, Instant},
};

use actix::prelude::*;
use uuid::Uuid;

use super::{
    envelope::{Envelope, NewEnvelope, OpStatus, Outcome},
    journal::{Appended, Completion, Failed},
    supervision::{panic_message, ActorState, DOWN_POLL},
    Core, MomError, MOM_ACTOR,
};
use crate::problem::Problem;

/// A batch for one incarnation of a destination.
#[derive(Message)]
#[rtype(result = "BatchReport")]
pub struct Deliver {
    pub generation: u64,
    pub envelopes: Vec<Envelope>,
}

/// What a destination did with a batch: a prefix processed (`done`), at most
/// one failure after it; anything else in the batch is replayed.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub generation: u64,
    pub done: Vec<(Uuid, Outcome)>,
    pub failed: Option<DeliveryFailure>,
}

#[derive(Debug, Clone)]
pub struct DeliveryFailure {
    pub id: Uuid,
    pub error: String,
    /// The actor is restarting (a panic); otherwise retry after a pause.
    pub fatal: bool,
}

/// A read, straight to the actor's mailbox.
#[derive(Message)]
#[rtype(result = "Result<serde_json::Value, Problem>")]
pub struct Ask {
    pub kind: &'static str,
    pub payload: String,
}

/// Stop now (fault `kill`); the supervisor restarts the actor. Carries the
/// kill epoch it was sent for: an incarnation started at or after that epoch
/// (the kill already took effect, e.g. by aborting a batch) ignores it, so
/// one kill is one restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop {
    pub epoch: u64,
}

/// Persist envelopes; answered after the fsync.
#[derive(Message)]
#[rtype(result = "Result<Vec<Appended>, MomError>")]
pub struct Submit {
    pub envelopes: Vec<NewEnvelope>,
    /// Past this the caller has given up: persist nothing.
    pub deadline: Instant,
}

/// A destination's new incarnation is ready: replay to it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Registered {
    pub name: &'static str,
    pub generation: u64,
}

/// A destination went down (kept for depth and state bookkeeping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregistered {
    pub name: &'static str,
}

/// Put a dead letter back in its destination's queue.
#[derive(Message)]
#[rtype(result = "Result<bool, MomError>")]
pub struct RetryDead(pub Uuid);

#[derive(Default)]
struct Dest {
    pending: VecDeque<Envelope>,
    in_flight: Vec<Envelope>,
    in_flight_generation: u64,
    /// A failure is being recorded, or a transient failure backs off.
    held: bool,
}

impl Dest {
    fn depth(&self) -> u64 {
        (self.pending.len() + self.in_flight.len()) as u64
    }
    /// Inserts keeping `seq` order (almost always at the back).
    fn insert(&mut self, env: Envelope) {
        let at = self.pending.partition_point(|e| e.seq < env.seq);
        if self.pending.get(at).map(|e| e.seq) != Some(env.seq) {
            self.pending.insert(at, env);
        }
    }
    fn take_back_in_flight(&mut self) {
        for env in std::mem::take(&mut self.in_flight) {
            self.insert(env);
        }
    }
}

/// Hands out tickets in issue order and gives answers back in that order,
/// holding an early answer until those before it have come.
#[derive(Debug)]
struct InOrder<T> {
    issued: u64,
    next: u64,
    early: std::collections::BTreeMap<u64, T>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self {
            issued: 0,
            next: 0,
            early: Default::default(),
        }
    }
}

impl<T> InOrder<T> {
    fn issue(&mut self) -> u64 {
        self.issued += 1;
        self.issued - 1
    }
    /// The answer for `ticket`; returns every answer now due, in order.
    fn answered(&mut self, ticket: u64, answer: T) -> Vec<T> {
        self.early.insert(ticket, answer);
        let mut due = Vec::new();
        while let Some(a) = self.early.remove(&self.next) {
            due.push(a);
            self.next += 1;
        }
        due
    }
}

type CompletionAnswer = (
    Result<Vec<Option<Vec<Envelope>>>, super::journal::JournalError>,
    Vec<(Envelope, super::envelope::Reply)>,
);

pub struct PostOffice {
    core: Arc<Core>,
    dests: HashMap<String, Dest>,
    /// Completions on their way to the journal, applied in the order sent.
    completions: InOrder<CompletionAnswer>,
    /// False until the journal is loaded.
    ready: bool,
    backoff: Duration,
    /// The kill epoch when this incarnation started.
    epoch: u64,
}

impl PostOffice {
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            dests: HashMap::new(),
            completions: InOrder::default(),
            ready: false,
            backoff: Duration::ZERO,
            epoch: 0,
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let core = self.core.clone();
        let slot = core.registry.slot(MOM_ACTOR);
        let backoff = self.backoff;
        let wait = async move {
            tokio::time::sleep(backoff).await;
            loop {
                let d = slot.faults.remaining_down();
                if d.is_zero() {
                    break;
                }
                // In slices, so clearing the fault ends the down period now.
                tokio::time::sleep(d.min(DOWN_POLL)).await;
            }
            // The previous incarnation died with its futures, and with them
            // any write it had sent to the journal but not yet seen commit: a
            // completion (and the events and saga steps it derives), an
            // append, a failure. Read after those writes land, or what they
            // wrote would sit pending on disk with nobody to route it.
            let journal = core.journal.clone();
            journal.settled().await.map_err(|e| e.to_string())?;
            tokio::task::spawn_blocking(move || journal.load_pending())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        };
        ctx.wait(wait.into_actor(self).map(|res, act, ctx| {
            let rows = match res {
                Ok(rows) => rows,
                Err(why) => {
                    tracing::error!(error = %why, "post office could not load the journal");
                    act.slot().stats.record_failure(&why);
                    ctx.stop();
                    return;
                }
            };
            let mut corrupt = Vec::new();
            let n = rows.len();
            for row in rows {
                match row.envelope() {
                    Ok(env) => act.dests.entry(env.destination.clone()).or_default().insert(env),
                    Err(why) => corrupt.push((row.id, why)),
                }
            }
            for (id, why) in corrupt {
                tracing::error!(envelope = %id, error = %why, "refusing to replay a corrupt envelope");
                if let Ok(id) = Uuid::parse_str(&id) {
                    let journal = act.core.journal.clone();
                    actix::spawn(async move {
                        let _ = journal.fail(id, why, 1).await;
                    });
                }
            }
            tracing::info!(pending = n, "post office loaded the journal; replaying");
            act.ready = true;
            act.slot().mark_running(act.epoch);
            // Depths set by the previous incarnation are stale: a
            // destination with nothing left on disk would show its old
            // backlog forever.
            for slot in act.core.registry.all() {
                let depth = act.dests.get(slot.stats.name).map_or(0, Dest::depth);
                slot.stats.set_pending(depth);
            }
            let names: Vec<String> = act.dests.keys().cloned().collect();
            for name in names {
                act.pump(&name, ctx);
            }
        }));
    }

    fn slot(&self) -> Arc<super::registry::Slot> {
        self.core.registry.slot(MOM_ACTOR)
    }

    /// Runs the injected-crash check for the MOM itself; a crash stops the
    /// actor (its supervisor restarts it and it reloads from the journal).
    fn crash_point(&mut self, kind: &str, ctx: &mut Context<Self>) -> Result<(), String> {
        let slot = self.slot();
        match catch_unwind(AssertUnwindSafe(|| slot.faults.maybe_crash(kind))) {
            Ok(()) => Ok(()),
            Err(p) => {
                let why = panic_message(&*p);
                tracing::error!(error = %why, "post office crashed; supervisor restarts it");
                slot.stats.record_failure(&why);
                self.ready = false;
                ctx.stop();
                Err(why)
            }
        }
    }

    fn enqueue(&mut self, env: Envelope) -> String {
        let name = env.destination.clone();
        self.dests.entry(name.clone()).or_default().insert(env);
        name
    }

    fn update_depth(&self, name: &str) {
        if let (Some(slot), Some(d)) = (self.core.registry.get(name), self.dests.get(name)) {
            slot.stats.set_pending(d.depth());
        }
    }

    /// Sends the next batch to `name` if it is up and idle.
    fn pump(&mut self, name: &str, ctx: &mut Context<Self>) {
        self.update_depth(name);
        if !self.ready {
            return;
        }
        let Some(link) = self.core.registry.get(name).and_then(|s| s.link()) else {
            return;
        };
        let batch_size = self.core.batch_size;
        let Some(dest) = self.dests.get_mut(name) else {
            return;
        };
        if dest.held || !dest.in_flight.is_empty() || dest.pending.is_empty() {
            return;
        }
        let n = dest.pending.len().min(batch_size);
        let batch: Vec<Envelope> = dest.pending.drain(..n).collect();
        dest.in_flight = batch.clone();
        dest.in_flight_generation = link.generation;
        let generation = link.generation;
        let name = name.to_owned();
        let send = link.deliver.send(Deliver {
            generation,
            envelopes: batch,
        });
        ctx.spawn(
            send.into_actor(self)
                .map(move |res, act, ctx| act.on_report(name, generation, res, ctx)),
        );
    }

    fn on_report(
        &mut self,
        name: String,
        generation: u64,
        res: Result<BatchReport, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(dest) = self.dests.get_mut(&name) else {
            return;
        };
        if dest.in_flight_generation != generation || dest.in_flight.is_empty() {
            return; // already taken back: a newer incarnation replays it
        }
        let report = match res {
            Ok(r) if r.generation == generation => r,
            _ => {
                // The incarnation is gone; its successor gets a replay.
                dest.take_back_in_flight();
                self.pump(&name, ctx);
                return;
            }
        };
        let mut in_flight: HashMap<Uuid, Envelope> = std::mem::take(&mut dest.in_flight)
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut completions = Vec::with_capacity(report.done.len());
        let mut replies = Vec::with_capacity(report.done.len());
        for (id, outcome) in report.done {
            let Some(env) = in_flight.remove(&id) else {
                continue;
            };
            completions.push(Completion {
                id,
                result: serde_json::to_string(&outcome.reply).unwrap_or_default(),
                derived: self.core.derive(&env, &outcome),
            });
            replies.push((env, outcome.reply));
        }
        let failed = report
            .failed
            .and_then(|f| in_flight.remove(&f.id).map(|env| (env, f)));
        // Whatever the actor did not reach goes back, in order.
        for env in in_flight.into_values() {
            dest.insert(env);
        }
        if let Some((env, failure)) = failed {
            dest.held = true;
            self.record_failure(name.clone(), env, failure, ctx);
        }
        if !completions.is_empty() {
            self.complete(completions, replies, ctx);
        }
        self.pump(&name, ctx);
    }

    /// Journals completions (and what they produced), then routes the
    /// derived envelopes and tells the waiting edges — in the order the
    /// completions went to the journal, which is the order their derived
    /// envelopes got their `seq`, whatever order their answers are polled
    /// in. So a saga step derived from an earlier completion (an inventory
    /// `commit`) is routed before one derived from a later one (a `restock`
    /// after a cancel), even when both commit in one journal group.
    fn complete(
        &mut self,
        completions: Vec<Completion>,
        replies: Vec<(Envelope, super::envelope::Reply)>,
        ctx: &mut Context<Self>,
    ) {
        let ticket = self.completions.issue();
        let fut = self.core.journal.complete(completions);
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            for (res, replies) in act.completions.answered(ticket, (res, replies)) {
                act.completed(res, replies, ctx);
            }
        }));
    }

    fn completed(
        &mut self,
        res: Result<Vec<Option<Vec<Envelope>>>, super::journal::JournalError>,
        replies: Vec<(Envelope, super::envelope::Reply)>,
        ctx: &mut Context<Self>,
    ) {
        match res {
            Ok(derived) => {
                let mut touched = Vec::new();
                let mut answers = Vec::with_capacity(replies.len());
                for ((env, reply), made) in replies.into_iter().zip(derived) {
                    // `None`: already marked done, by a completion whose
                    // answer died with an earlier incarnation. Its derived
                    // envelopes were written then (and loaded since); its
                    // waiters were never told, and the inbox replayed the
                    // same reply: tell them now.
                    if let Some(made) = made {
                        if let Some(slot) = self.core.registry.get(&env.destination) {
                            slot.stats.add_processed(1);
                        }
                        for d in made {
                            touched.push(self.enqueue(d));
                        }
                    }
                    answers.push((env.id, reply));
                }
                touched.sort();
                touched.dedup();
                for name in touched {
                    self.pump(&name, ctx);
                }
                // Routed (and counted in the depths) before anyone hears of it.
                for (id, reply) in answers {
                    self.core.waiters.notify(id, OpStatus::Done(reply));
                }
            }
            Err(e) => {
                // Still pending on disk: replay them (the inbox answers).
                tracing::error!(error = %e, "journal could not record completions");
                let mut touched = Vec::new();
                for (env, _) in replies {
                    touched.push(self.enqueue(env));
                }
                for name in touched {
                    self.pump(&name, ctx);
                }
            }
        }
    }

    fn record_failure(
        &mut self,
        name: String,
        env: Envelope,
        failure: DeliveryFailure,
        ctx: &mut Context<Self>,
    ) {
        let id = env.id;
        let fut = self
            .core
            .journal
            .fail(id, failure.error.clone(), self.core.max_deliveries);
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let pause = match res {
                Ok(Failed::Dead) => {
                    tracing::warn!(envelope = %id, destination = %name, kind = %env.kind,
                        error = %failure.error, "envelope dead-lettered");
                    crate::metrics::get()
                        .dead_lettered
                        .with_label_values(&[name.as_str()])
                        .inc();
                    act.core
                        .waiters
                        .notify(id, OpStatus::Dead(failure.error.clone()));
                    Duration::ZERO
                }
                Ok(Failed::Gone) => Duration::ZERO,
                Ok(Failed::Retry(attempts)) => {
                    act.dests.entry(name.clone()).or_default().insert(env);
                    if failure.fatal {
                        Duration::ZERO // the restart backs off by itself
                    } else {
                        Duration::from_millis(50u64 << attempts.clamp(0, 6))
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "journal could not record a failure");
                    act.dests.entry(name.clone()).or_default().insert(env);
                    Duration::from_millis(500)
                }
            };
            if pause.is_zero() {
                act.release(&name, ctx);
            } else {
                ctx.run_later(pause, move |act, ctx| act.release(&name, ctx));
            }
        }));
    }

    fn release(&mut self, name: &str, ctx: &mut Context<Self>) {
        if let Some(d) = self.dests.get_mut(name) {
            d.held = false;
        }
        self.pump(name, ctx);
    }
}

impl Actor for PostOffice {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.epoch = self.slot().stats.kill_epoch();
        self.load(ctx);
        let retention = self.core.retention;
        ctx.run_interval(Duration::from_secs(600), move |act, _| {
            let journal = act.core.journal.clone();
            let before = crate::problem::now_ms() - retention.as_millis() as i64;
            actix::spawn(async move {
                match journal.prune(before).await {
                    Ok(n) if n > 0 => tracing::info!(pruned = n, "pruned done envelopes"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning the journal failed"),
                }
            });
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.slot().stats.set_state(ActorState::Down);
        Running::Stop
    }
}

impl Supervised for PostOffice {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.backoff = self.slot().stats.record_restart();
        self.dests.clear();
        // Their futures died with the old incarnation; `load` reads after
        // their writes.
        self.completions = InOrder::default();
        self.ready = false;
    }
}

impl Handler<Submit> for PostOffice {
    type Result = ResponseActFuture<Self, Result<Vec<Appended>, MomError>>;

    fn handle(&mut self, msg: Submit, _: &mut Self::Context) -> Self::Result {
        if Instant::now() > msg.deadline {
            return Box::pin(fut::ready(Err(MomError::Unavailable(
                "the MOM did not accept the command in time; nothing was recorded".into(),
            ))));
        }
        let kind = msg
            .envelopes
            .first()
            .map(|e| e.kind.clone())
            .unwrap_or_default();
        // On the writer's queue now: appends are written in mailbox order.
        let fut = self.core.journal.append(msg.envelopes);
        Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            let appended = res.map_err(|e| MomError::Unavailable(e.to_string()))?;
            // Written but not yet routed: a crash here loses nothing — the
            // caller hears the truth (it is durable, its waiter survives)
            // and the restarted post office replays it from the journal.
            if act.crash_point(&kind, ctx).is_err() {
                return Ok(appended);
            }
            let mut touched = Vec::new();
            for a in &appended {
                if let Appended::New(env) = a {
                    touched.push(act.enqueue(env.clone()));
                }
            }
            act.slot().stats.add_processed(touched.len() as u64);
            for name in touched {
                act.pump(&name, ctx);
            }
            Ok(appended)
        }))
    }
}

impl Handler<Registered> for PostOffice {
    type Result = ();

    fn handle(&mut self, msg: Registered, ctx: &mut Self::Context) {
        // A batch still in flight to an earlier incarnation resolves by
        // itself (its report, a stale-generation report, or a mailbox
        // error) and is then replayed here; `pump` waits for it.
        self.dests.entry(msg.name.to_owned()).or_default();
        tracing::debug!(actor = msg.name, generation = msg.generation, "registered");
        self.pump(msg.name, ctx);
    }
}

impl Handler<Unregistered> for PostOffice {
    type Result = ();

    fn handle(&mut self, msg: Unregistered, _: &mut Self::Context) {
        // Nothing to take back here: the in-flight batch's report (or its
        // mailbox error) still arrives and is handled in `on_report`, which
        // is the only place that settles a batch.
        self.update_depth(msg.name);
    }
}

impl Handler<RetryDead> for PostOffice {
    type Result = ResponseActFuture<Self, Result<bool, MomError>>;

    fn handle(&mut self, msg: RetryDead, _: &mut Self::Context) -> Self::Result {
        let fut = self.core.journal.retry(msg.0);
        Box::pin(fut.into_actor(self).map(|res, act, ctx| {
            match res.map_err(|e| MomError::Unavailable(e.to_string()))? {
                Some(env) => {
                    let name = act.enqueue(env);
                    act.pump(&name, ctx);
                    Ok(true)
                }
                None => Ok(false),
            }
        }))
    }
}

impl Handler<Stop> for PostOffice {
    type Result = ();

    fn handle(&mut self, msg: Stop, ctx: &mut Self::Context) {
        if msg.epoch > self.epoch {
            ctx.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn answers_come_back_in_the_order_their_requests_went_out() {
        let mut q = InOrder::default();
        let (a, b, c) = (q.issue(), q.issue(), q.issue());
        // Answered c, b, a (as actix may poll them): nothing is due until
        // a is, then all three, in issue order.
        assert!(q.answered(c, "c").is_empty());
        assert!(q.answered(b, "b").is_empty());
        assert_eq!(q.answered(a, "a"), ["a", "b", "c"]);
        let d = q.issue();
        assert_eq!(q.answered(d, "d"), ["d"]);
    }
}
