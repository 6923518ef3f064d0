//! The edge side of `queues`: what REST, gRPC and `mailroom bench queues`
//! call around [`Mom::execute`] / [`Mom::ask`]. Nothing here runs in the
//! actor, and nothing blocks it.
//!
//! - [`receive`] is the long poll: a [`Peek`] query (never journaled) says
//!   whether a receive would find something; only then is the journaled
//!   [`Receive`] command sent. Otherwise it sleeps until a publish wakes the
//!   queue's [`Notify`], the next message's delay or lease ends, a fallback
//!   tick passes, or the wait is over — so an idle long poll costs reads,
//!   not fsyncs.
//! - [`publish`], [`publish_topic`], [`settle`] wake the long polls of the
//!   queues they fed, once their command is done (after the commit).
//! - [`access_first`] keeps the authorization rule ahead of the content's:
//!   a request refused for its body or parameters (400/413/422) on a queue
//!   or topic the caller may not use answers that (404/403) instead.
//! - Per-queue publish/deliver counters are bumped here, once per answered
//!   command; the gauges are read at scrape ([`refresh_metrics`]).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use super::{
    AllCounts, CheckAccess, DeleteQueue, Head, Nack, Peek, Publish, PublishTopic, QueueView,
    Receive, Received, Redrive, Settled, TopicPublished, MAX_WAIT_S,
};
use crate::{
    mom::{Command, ExecOptions, Executed, Mom, MomError},
    problem::{Problem, ProblemKind},
};

/// How often a long poll looks again without being woken: covers what
/// wakes nobody (a publish answered 202 that finishes later, a replay
/// after a restart).
const FALLBACK_POLL: Duration = Duration::from_millis(250);
/// The least time a peek gets, whatever the caller's wait budget.
const PEEK_BUDGET: Duration = Duration::from_secs(2);

fn wakers() -> &'static Mutex<HashMap<String, Arc<Notify>>> {
    static WAKERS: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();
    WAKERS.get_or_init(Default::default)
}

/// The queue's waker, created on first use.
fn waker(queue: &str) -> Arc<Notify> {
    wakers()
        .lock()
        .expect("wakers lock")
        .entry(queue.to_owned())
        .or_default()
        .clone()
}

/// Wakes every long poll waiting on `queue`.
pub fn wake(queue: &str) {
    if let Some(n) = wakers().lock().expect("wakers lock").get(queue) {
        n.notify_waiters();
    }
}

/// Runs a publish and wakes the queue.
pub async fn publish(
    mom: &Mom,
    cmd: &Publish,
    opts: ExecOptions,
) -> Result<Executed<super::Published>, MomError> {
    let res = mom.execute(cmd, opts).await;
    if let Ok(Executed::Done(_)) = &res {
        crate::metrics::queue_published(&cmd.queue, 1);
        wake(&cmd.queue);
    }
    res
}

/// Runs a topic publish and wakes every queue it reached.
pub async fn publish_topic(
    mom: &Mom,
    cmd: &PublishTopic,
    opts: ExecOptions,
) -> Result<Executed<TopicPublished>, MomError> {
    let res = mom.execute(cmd, opts).await;
    if let Ok(Executed::Done(p)) = &res {
        for q in &p.queues {
            crate::metrics::queue_published(q, 1);
            wake(q);
        }
    }
    res
}

/// A command that can make messages waiting again (nack, redrive): wakes
/// the queue once done.
pub trait Requeues: Command<Reply = Settled> {
    fn queue(&self) -> &str;
}
impl Requeues for Nack {
    fn queue(&self) -> &str {
        &self.queue
    }
}
impl Requeues for Redrive {
    fn queue(&self) -> &str {
        &self.queue
    }
}

pub async fn settle<C: Requeues>(
    mom: &Mom,
    cmd: &C,
    opts: ExecOptions,
) -> Result<Executed<Settled>, MomError>
where
    C::To: crate::mom::Handles<C>,
{
    let res = mom.execute(cmd, opts).await;
    if let Ok(Executed::Done(s)) = &res {
        if s.status == "requeued" {
            wake(cmd.queue());
        }
    }
    res
}

/// Deletes a queue and forgets its waker and metrics.
pub async fn delete_queue(
    mom: &Mom,
    cmd: &DeleteQueue,
    opts: ExecOptions,
) -> Result<Executed<QueueView>, MomError> {
    let res = mom.execute(cmd, opts).await;
    if let Ok(Executed::Done(_)) = &res {
        if let Some(n) = wakers().lock().expect("wakers lock").remove(&cmd.name) {
            // Pollers still waiting look again and get the 404.
            n.notify_waiters();
        }
        crate::metrics::forget_queue(&cmd.name);
    }
    res
}

/// The long poll: leases up to `cmd.max` messages, waiting up to `wait`
/// (at most [`MAX_WAIT_S`]) for some to arrive. An empty answer after the
/// wait is `Done` with no messages. Errors are the peek's or the
/// command's (404/403 for the queue, 503 while the actor or the MOM is
/// down).
pub async fn receive(
    mom: &Mom,
    cmd: &Receive,
    opts: ExecOptions,
    wait: Duration,
) -> Result<Executed<Received>, MomError> {
    let deadline = Instant::now() + wait.min(Duration::from_secs(MAX_WAIT_S.into()));
    let peek = Peek {
        by: cmd.by,
        queue: cmd.queue.clone(),
    };
    let ask_budget = opts.wait.max(PEEK_BUDGET);
    let mut notify: Option<Arc<Notify>> = None;
    loop {
        // Listen before looking, so a publish between the look and the
        // sleep still wakes us.
        let n = notify.clone();
        let notified = n.as_ref().map(|n| n.notified());
        tokio::pin!(notified);
        if let Some(f) = notified.as_mut().as_pin_mut() {
            f.enable();
        }
        let head: Head = mom.ask(&peek, ask_budget).await?;
        if head.ready {
            match mom.execute(cmd, opts.clone()).await? {
                Executed::Done(r)
                    if r.messages.is_empty()
                        && Instant::now() < deadline
                        && opts.idempotency_key.is_none() =>
                {
                    // Another consumer was faster, or the receive only
                    // swept dead letters: look again. (With an idempotency
                    // key a repeat would only replay this answer.)
                    continue;
                }
                Executed::Done(r) => {
                    if !r.messages.is_empty() {
                        crate::metrics::queue_delivered(&cmd.queue, r.messages.len() as u64);
                    }
                    return Ok(Executed::Done(r));
                }
                accepted => return Ok(accepted),
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Executed::Done(Received::default()));
        }
        if notify.is_none() {
            // The queue exists and we may consume it: listen from now on.
            notify = Some(waker(&cmd.queue));
            continue;
        }
        let mut until = deadline.min(now + FALLBACK_POLL);
        if let Some(at) = head.next_visible_at {
            let in_ms = u64::try_from(at - head.now).unwrap_or(0).max(1);
            until = until.min(now + Duration::from_millis(in_ms));
        }
        match notified.as_mut().as_pin_mut() {
            Some(f) => {
                tokio::select! {
                    _ = f => {}
                    _ = tokio::time::sleep_until(until) => {}
                }
            }
            None => tokio::time::sleep_until(until).await,
        }
    }
}

/// What to answer for a request refused for its content (`refused`: 400,
/// 413 or 422) on the queue or topic `check` names: the 404 or 403 the
/// caller would get with a valid request, if any, so that a caller who may
/// not use it at all hears that first; else `refused`. Only refused
/// requests pay for this look.
pub async fn access_first(
    mom: &Mom,
    check: &CheckAccess,
    wait: Duration,
    refused: Problem,
) -> Problem {
    if !matches!(
        refused.kind,
        ProblemKind::BadRequest | ProblemKind::TooLarge | ProblemKind::Unprocessable
    ) {
        return refused;
    }
    match mom.ask(check, wait.max(PEEK_BUDGET)).await {
        Err(MomError::Rejected(p))
            if matches!(p.kind, ProblemKind::NotFound | ProblemKind::Forbidden) =>
        {
            p
        }
        // Allowed (or the look failed, or the name itself is invalid): the
        // content's problem stands.
        _ => refused,
    }
}

/// Brings the per-queue gauges up to date (called at scrape). A queues
/// actor that does not answer leaves the last values.
pub async fn refresh_metrics(mom: &Mom) {
    if let Ok(all) = mom.ask(&AllCounts {}, PEEK_BUDGET).await {
        crate::metrics::set_queue_gauges(
            all.iter()
                .map(|c| (c.name.as_str(), c.depth, c.in_flight, c.dead)),
        );
    }
}
