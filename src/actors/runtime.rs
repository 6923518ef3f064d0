//! The runtime wrapper every service actor runs in.
//!
//! For a batch of envelopes: one `BEGIN IMMEDIATE` transaction; per envelope
//! a savepoint in which the inbox is checked (a replay answers from the
//! record), the service logic runs, injected faults fire, and the inbox row
//! with the whole outcome is written; one commit (one fsync) for the batch.
//! A panic is caught at the savepoint, the envelopes before it are
//! committed, the MOM is told which envelope failed, and the actor stops —
//! its `actix::Supervisor` restarts it and the MOM replays the rest in order.
//! (actix restarts an actor that *stops*, not one that panics, hence the
//! catch.)
use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    time::Duration,
};

use actix::prelude::*;
use diesel::{Connection, SqliteConnection};

use super::{Failure, Incoming, Service};
use crate::{
    mom::{
        post_office::{
            Ask, BatchReport, Deliver, DeliveryFailure, PostOffice, Registered, Stop, Unregistered,
        },
        registry::{Registry, Slot},
        Mom, Outcome,
    },
    problem::Problem,
    store::{inbox, Pool},
};

pub struct ServiceActor<S: Service> {
    service: S,
    pool: Pool,
    slot: Arc<Slot>,
    registry: Arc<Registry>,
    mom: Addr<PostOffice>,
    generation: u64,
    backoff: Duration,
    /// The kill epoch when this incarnation started.
    epoch: u64,
    retention: Duration,
}

/// Starts `service` under a supervisor on a new arbiter and subscribes it.
pub fn start<S: Service + Send>(mom: &Mom, service: S, pool: Pool) -> Addr<ServiceActor<S>> {
    for pattern in S::SUBSCRIPTIONS {
        mom.bind(S::NAME, pattern);
    }
    let registry = mom.registry().clone();
    let slot = registry.slot(S::NAME);
    let post_office = mom.post_office().clone();
    let retention = mom.retention();
    let arbiter = Arbiter::new();
    let keeper = slot.clone();
    let addr = actix::Supervisor::start_in_arbiter(&arbiter.handle(), move |_| ServiceActor {
        service,
        pool,
        slot,
        registry,
        mom: post_office,
        generation: 0,
        backoff: Duration::ZERO,
        epoch: 0,
        retention,
    });
    keeper.keep(addr.clone().recipient());
    addr
}

/// How often a service prunes its inbox.
use crate::mom::supervision::{panic_message, ActorState, DOWN_POLL};

const INBOX_PRUNE_EVERY: Duration = Duration::from_secs(600);

enum Step {
    Db(diesel::result::Error),
    Rejected(crate::problem::Problem),
    Transient(String),
    Panic(String),
}

impl From<diesel::result::Error> for Step {
    fn from(e: diesel::result::Error) -> Self {
        Step::Db(e)
    }
}

enum Abort {
    Db(diesel::result::Error),
    Killed,
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

fn encode(outcome: &Outcome) -> String {
    serde_json::to_string(outcome).expect("outcomes serialize")
}

impl<S: Service> ServiceActor<S> {
    fn register(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.address();
        let Some(generation) = self.registry.register(
            S::NAME,
            self.epoch,
            addr.clone().recipient(),
            addr.recipient(),
        ) else {
            // Killed while starting: the kill's `Stop` is next in the
            // mailbox, and the successor registers. Until then no batch is
            // ours (a `Deliver` for the last generation answers empty).
            tracing::debug!(actor = S::NAME, "killed before it registered");
            self.generation = 0;
            return;
        };
        self.generation = generation;
        tracing::info!(actor = S::NAME, generation = self.generation, "actor up");
        self.mom.do_send(Registered {
            name: S::NAME,
            generation: self.generation,
        });
    }

    /// Applies a batch; returns what was done, the failure that stopped it,
    /// and whether a kill interrupted it (then nothing is committed).
    fn run_batch(
        &mut self,
        envelopes: &[crate::mom::Envelope],
        epoch: u64,
    ) -> (Vec<(uuid::Uuid, Outcome)>, Option<DeliveryFailure>, bool) {
        let Some(first) = envelopes.first() else {
            return (Vec::new(), None, false);
        };
        let mut conn = match self.pool.get() {
            Ok(c) => c,
            Err(e) => {
                let failure = DeliveryFailure {
                    id: first.id,
                    error: format!("store unavailable: {e}"),
                    fatal: false,
                };
                return (Vec::new(), Some(failure), false);
            }
        };
        let mut done = Vec::with_capacity(envelopes.len());
        let mut failed = None;
        let slot = self.slot.clone();
        let service = &mut self.service;
        let res = conn.immediate_transaction(|c: &mut SqliteConnection| -> Result<(), Abort> {
            for env in envelopes {
                if slot.stats.kill_epoch() != epoch {
                    return Err(Abort::Killed);
                }
                let delay = slot.faults.delay();
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                let id = env.id.to_string();
                if let Some(record) = inbox::get(c, &id)? {
                    let outcome = serde_json::from_str(&record).unwrap_or_else(|e| {
                        Outcome::rejected(Problem::internal(format!(
                            "unreadable inbox record: {e}"
                        )))
                    });
                    done.push((env.id, outcome));
                    continue;
                }
                let incoming = Incoming {
                    id: env.id,
                    kind: &env.kind,
                    payload: &env.payload,
                    created_at: env.created_at,
                };
                let step = c.transaction(|c| -> Result<Outcome, Step> {
                    let caught = catch_unwind(AssertUnwindSafe(|| {
                        let r = service.handle(c, &incoming);
                        // "mid-handler, after partial work": the savepoint undoes it.
                        slot.faults.maybe_crash(&env.kind);
                        r
                    }));
                    let outcome = match caught {
                        Err(p) => return Err(Step::Panic(panic_message(&*p))),
                        Ok(Err(Failure::Rejected(p))) => return Err(Step::Rejected(p)),
                        Ok(Err(Failure::Transient(e))) => return Err(Step::Transient(e)),
                        Ok(Ok(effects)) => effects.into_outcome(),
                    };
                    inbox::put(c, &id, &encode(&outcome))?;
                    Ok(outcome)
                });
                match step {
                    Ok(outcome) => done.push((env.id, outcome)),
                    Err(Step::Rejected(p)) => {
                        let outcome = Outcome::rejected(p);
                        inbox::put(c, &id, &encode(&outcome))?;
                        done.push((env.id, outcome));
                    }
                    Err(Step::Panic(error)) => {
                        failed = Some(DeliveryFailure {
                            id: env.id,
                            error,
                            fatal: true,
                        });
                        break;
                    }
                    Err(Step::Transient(error)) => {
                        failed = Some(DeliveryFailure {
                            id: env.id,
                            error,
                            fatal: false,
                        });
                        break;
                    }
                    Err(Step::Db(e)) => {
                        failed = Some(DeliveryFailure {
                            id: env.id,
                            error: e.to_string(),
                            fatal: false,
                        });
                        break;
                    }
                }
            }
            Ok(())
        });
        match res {
            Ok(()) => (done, failed, false),
            Err(Abort::Killed) => (Vec::new(), None, true),
            Err(Abort::Db(e)) => {
                let failure = DeliveryFailure {
                    id: first.id,
                    error: format!("commit failed: {e}"),
                    fatal: false,
                };
                (Vec::new(), Some(failure), false)
            }
        }
    }

    /// Inbox rows only matter while their envelope can still be replayed,
    /// which ends when the journal marks it done (milliseconds later); keep
    /// them as long as the journal keeps done envelopes.
    fn prune_inbox(&mut self) {
        let before = crate::problem::now_ms() - self.retention.as_millis() as i64;
        match self
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut c| inbox::prune(&mut c, before).map_err(|e| e.to_string()))
        {
            Ok(n) if n > 0 => tracing::info!(actor = S::NAME, pruned = n, "pruned inbox"),
            Ok(_) => {}
            Err(e) => tracing::warn!(actor = S::NAME, error = %e, "pruning the inbox failed"),
        }
    }

    fn die(&mut self, why: &str, ctx: &mut Context<Self>) {
        tracing::error!(actor = S::NAME, error = %why, "actor failed; supervisor restarts it");
        self.slot.stats.record_failure(why);
        self.slot.unlink(self.generation);
        ctx.stop();
    }
}

impl<S: Service> Actor for ServiceActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.epoch = self.slot.stats.kill_epoch();
        ctx.run_interval(INBOX_PRUNE_EVERY, |act, _| act.prune_inbox());
        let slot = self.slot.clone();
        let backoff = self.backoff;
        let wait = async move {
            tokio::time::sleep(backoff).await;
            loop {
                let d = slot.faults.remaining_down();
                if d.is_zero() {
                    break;
                }
                slot.stats.set_state(ActorState::Down);
                // In slices, so clearing the fault ends the down period now.
                tokio::time::sleep(d.min(DOWN_POLL)).await;
            }
        };
        // `wait` holds the mailbox: nothing is handled until registration.
        ctx.wait(wait.into_actor(self).map(|_, act, ctx| act.register(ctx)));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.slot.unlink(self.generation);
        self.slot.stats.set_state(ActorState::Down);
        self.mom.do_send(Unregistered { name: S::NAME });
        Running::Stop
    }
}

impl<S: Service> Supervised for ServiceActor<S> {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.backoff = self.slot.stats.record_restart();
    }
}

impl<S: Service> Handler<Deliver> for ServiceActor<S> {
    type Result = MessageResult<Deliver>;

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) -> Self::Result {
        let generation = msg.generation;
        if generation != self.generation {
            // Addressed to an earlier incarnation: the MOM replays it to us.
            return MessageResult(BatchReport {
                generation,
                ..BatchReport::default()
            });
        }
        let epoch = self.slot.stats.kill_epoch();
        let (done, failed, killed) = self.run_batch(&msg.envelopes, epoch);
        if killed {
            tracing::warn!(actor = S::NAME, "killed mid-batch; in-flight work dropped");
            ctx.stop();
            return MessageResult(BatchReport {
                generation,
                ..BatchReport::default()
            });
        }
        if let Some(f) = &failed {
            if f.fatal {
                self.die(&f.error, ctx);
            } else {
                tracing::warn!(actor = S::NAME, envelope = %f.id, error = %f.error, "delivery failed; will retry");
                self.slot.stats.record_failure(&f.error);
            }
        }
        MessageResult(BatchReport {
            generation,
            done,
            failed,
        })
    }
}

enum AskEnd {
    Db(diesel::result::Error),
    Answer(std::thread::Result<Result<super::Effects, Failure>>),
}

impl From<diesel::result::Error> for AskEnd {
    fn from(e: diesel::result::Error) -> Self {
        AskEnd::Db(e)
    }
}

impl<S: Service> Handler<Ask> for ServiceActor<S> {
    type Result = Result<serde_json::Value, Problem>;

    fn handle(&mut self, msg: Ask, ctx: &mut Self::Context) -> Self::Result {
        let delay = self.slot.faults.delay();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut conn = self
            .pool
            .get()
            .map_err(|e| Problem::unavailable(format!("store unavailable: {e}")))?;
        let incoming = Incoming {
            id: uuid::Uuid::nil(),
            kind: msg.kind,
            payload: &msg.payload,
            created_at: crate::problem::now_ms(),
        };
        let service = &mut self.service;
        // Always rolled back: a read must not change anything.
        let end = conn
            .transaction(|c| -> Result<(), AskEnd> {
                Err(AskEnd::Answer(catch_unwind(AssertUnwindSafe(|| {
                    service.handle(c, &incoming)
                }))))
            })
            .expect_err("ask transactions always roll back");
        match end {
            AskEnd::Answer(Ok(Ok(effects))) => Ok(effects.reply),
            AskEnd::Answer(Ok(Err(Failure::Rejected(p)))) => Err(p),
            AskEnd::Answer(Ok(Err(Failure::Transient(e)))) => Err(Problem::unavailable(e)),
            AskEnd::Db(e) => Err(Problem::unavailable(e.to_string())),
            AskEnd::Answer(Err(p)) => {
                let why = panic_message(&*p);
                self.die(&why, ctx);
                Err(Problem::internal(format!(
                    "{} failed and is restarting",
                    S::NAME
                )))
            }
        }
    }
}

impl<S: Service> Handler<Stop> for ServiceActor<S> {
    type Result = ();

    fn handle(&mut self, msg: Stop, ctx: &mut Self::Context) {
        if msg.epoch > self.epoch {
            ctx.stop();
        }
    }
}
