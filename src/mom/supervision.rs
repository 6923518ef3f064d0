//! What every supervised actor shares with the rest of the node: its live
//! statistics ([`ActorStats`], shown at `/admin/actors` and `/metrics`) and
//! its injected faults ([`Faults`], set through `/admin/faults`).
//!
//! Faults are applied by the runtime wrappers (`runtime.rs` for services,
//! `mom::post_office` for the MOM), so every actor gets them for free.
use std::{
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// running | restarting | down
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorState {
    Running,
    Restarting,
    Down,
}

/// Live counters for one actor; cheap to read from any thread.
#[derive(Debug)]
pub struct ActorStats {
    pub name: &'static str,
    state: AtomicU8,
    restarts: AtomicU64,
    processed: AtomicU64,
    failures: AtomicU64,
    /// Envelopes waiting for or in delivery to this actor (set by the MOM).
    pending: AtomicU64,
    /// Bumped by `kill`: work started under an older epoch is dropped.
    kill_epoch: AtomicU64,
    last_failure: Mutex<Option<String>>,
    backoff: Mutex<Backoff>,
}

#[derive(Debug, Default)]
struct Backoff {
    streak: u32,
    last_restart: Option<Instant>,
}

/// Restarts within this window of the previous one extend the streak.
/// How often a killed actor waiting out its `down_ms` looks again, so that
/// clearing its faults brings it back at once.
pub const DOWN_POLL: Duration = Duration::from_millis(50);

const STORM_WINDOW: Duration = Duration::from_secs(10);
const BACKOFF_BASE: Duration = Duration::from_millis(20);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

impl ActorStats {
    pub fn new(name: &'static str) -> Self {
        // Export every actor's counters from the start, at zero.
        let m = crate::metrics::get();
        for c in [&m.actor_processed, &m.actor_failures, &m.actor_restarts] {
            c.with_label_values(&[name]);
        }
        Self {
            name,
            state: AtomicU8::new(ActorState::Down as u8),
            restarts: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            kill_epoch: AtomicU64::new(0),
            last_failure: Mutex::new(None),
            backoff: Mutex::new(Backoff::default()),
        }
    }

    pub fn state(&self) -> ActorState {
        match self.state.load(Ordering::Acquire) {
            0 => ActorState::Running,
            1 => ActorState::Restarting,
            _ => ActorState::Down,
        }
    }
    pub fn set_state(&self, s: ActorState) {
        self.state.store(s as u8, Ordering::Release);
    }
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
    pub fn processed(&self) -> u64 {
        self.processed.load(Ordering::Relaxed)
    }
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
    pub fn set_pending(&self, n: u64) {
        self.pending.store(n, Ordering::Relaxed);
    }
    pub fn add_processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
        crate::metrics::get()
            .actor_processed
            .with_label_values(&[self.name])
            .inc_by(n);
    }
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().expect("stats lock").clone()
    }
    pub fn record_failure(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get()
            .actor_failures
            .with_label_values(&[self.name])
            .inc();
        *self.last_failure.lock().expect("stats lock") = Some(why.to_owned());
    }
    pub fn kill_epoch(&self) -> u64 {
        self.kill_epoch.load(Ordering::Acquire)
    }
    /// Starts a new kill epoch and returns it.
    pub fn bump_kill_epoch(&self) -> u64 {
        self.kill_epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Counts a restart and returns how long to back off before serving
    /// again: nothing for an isolated restart, then 20 ms doubling up to 5 s
    /// while restarts keep coming within 10 s of each other.
    pub fn record_restart(&self) -> Duration {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get()
            .actor_restarts
            .with_label_values(&[self.name])
            .inc();
        self.set_state(ActorState::Restarting);
        let mut b = self.backoff.lock().expect("stats lock");
        let now = Instant::now();
        b.streak = match b.last_restart {
            Some(t) if now.duration_since(t) < STORM_WINDOW => b.streak.saturating_add(1),
            _ => 0,
        };
        b.last_restart = Some(now);
        if b.streak == 0 {
            Duration::ZERO
        } else {
            BACKOFF_BASE
                .saturating_mul(1 << b.streak.min(16))
                .min(BACKOFF_CAP)
        }
    }
}

/// A fault request, as both edges accept it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FaultAction {
    /// Stop now, dropping in-flight work; restart after `down_ms`.
    Kill {
        /// 0 to 600 000.
        #[serde(default)]
        #[schema(maximum = 600000)]
        down_ms: u64,
    },
    /// The next `count` messages panic mid-handler, after partial work.
    CrashNext {
        /// 1 to 1 000 000.
        #[schema(minimum = 1, maximum = 1000000)]
        count: u32,
        /// Only messages of this type (e.g. "transfer").
        #[serde(default)]
        message: Option<String>,
    },
    /// Add `ms` to every message.
    Delay {
        /// 0 to 60 000.
        #[schema(maximum = 60000)]
        ms: u64,
    },
    /// Each message panics with probability `ratio`.
    FailRate {
        /// 0 to 1.
        #[schema(minimum = 0, maximum = 1)]
        ratio: f64,
        #[serde(default)]
        message: Option<String>,
    },
}

impl FaultAction {
    pub fn validate(&self) -> Result<(), Problem> {
        match self {
            FaultAction::Kill { down_ms } if *down_ms > 600_000 => {
                Err(Problem::invalid("down_ms must be at most 600000"))
            }
            FaultAction::CrashNext { count, .. } if *count == 0 || *count > 1_000_000 => {
                Err(Problem::invalid("count must be between 1 and 1000000"))
            }
            FaultAction::Delay { ms } if *ms > 60_000 => {
                Err(Problem::invalid("ms must be at most 60000"))
            }
            FaultAction::FailRate { ratio, .. } if !(0.0..=1.0).contains(ratio) => {
                Err(Problem::invalid("ratio must be within [0, 1]"))
            }
            _ => Ok(()),
        }
    }
}

/// The faults currently armed on one actor.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<FaultSpec>,
}

#[derive(Debug, Default, Clone)]
struct FaultSpec {
    crash_next: u32,
    crash_filter: Option<String>,
    delay: Duration,
    fail_rate: f64,
    fail_filter: Option<String>,
    down_until: Option<Instant>,
}

fn applies(filter: &Option<String>, kind: &str) -> bool {
    filter.as_deref().is_none_or(|f| f == kind)
}

impl Faults {
    /// Arms `action` (kill's bookkeeping only: the caller stops the actor).
    pub fn arm(&self, action: &FaultAction) {
        let mut f = self.inner.lock().expect("faults lock");
        match action {
            FaultAction::Kill { down_ms } => {
                f.down_until = Some(Instant::now() + Duration::from_millis(*down_ms));
            }
            FaultAction::CrashNext { count, message } => {
                f.crash_next = *count;
                f.crash_filter = message.clone();
            }
            FaultAction::Delay { ms } => f.delay = Duration::from_millis(*ms),
            FaultAction::FailRate { ratio, message } => {
                f.fail_rate = *ratio;
                f.fail_filter = message.clone();
            }
        }
    }

    /// Disarms everything, including a pending down period.
    pub fn clear(&self) {
        *self.inner.lock().expect("faults lock") = FaultSpec::default();
    }

    /// How long the actor must still stay down after a kill.
    pub fn remaining_down(&self) -> Duration {
        let f = self.inner.lock().expect("faults lock");
        f.down_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    pub fn delay(&self) -> Duration {
        self.inner.lock().expect("faults lock").delay
    }

    /// Panics if a crash is armed for a message of type `kind`. Called by the
    /// runtime after the handler's work and before its commit, inside
    /// `catch_unwind`.
    pub fn maybe_crash(&self, kind: &str) {
        let crash = {
            let mut f = self.inner.lock().expect("faults lock");
            if f.crash_next > 0 && applies(&f.crash_filter, kind) {
                f.crash_next -= 1;
                true
            } else {
                f.fail_rate > 0.0
                    && applies(&f.fail_filter, kind)
                    && rand::random::<f64>() < f.fail_rate
            }
        };
        if crash {
            panic!("injected crash while handling `{kind}`");
        }
    }

    /// A short description of what is armed, for `/admin/actors`.
    pub fn describe(&self) -> Vec<String> {
        let f = self.inner.lock().expect("faults lock");
        let mut out = Vec::new();
        if f.crash_next > 0 {
            out.push(format!("crash_next={}", f.crash_next));
        }
        if !f.delay.is_zero() {
            out.push(format!("delay={}ms", f.delay.as_millis()));
        }
        if f.fail_rate > 0.0 {
            out.push(format!("fail_rate={}", f.fail_rate));
        }
        out
    }
}

/// Turns a caught panic payload into its message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_next_counts_down_and_respects_the_filter() {
        let f = Faults::default();
        f.arm(&FaultAction::CrashNext {
            count: 2,
            message: Some("transfer".into()),
        });
        f.maybe_crash("deposit");
        for _ in 0..2 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f.maybe_crash("transfer")
            }));
            assert!(r.is_err());
        }
        f.maybe_crash("transfer");
    }

    #[test]
    fn restart_storms_back_off_exponentially_and_cap() {
        let s = ActorStats::new("t");
        assert_eq!(s.record_restart(), Duration::ZERO);
        let d1 = s.record_restart();
        let d2 = s.record_restart();
        assert!(d1 > Duration::ZERO && d2 == d1 * 2, "{d1:?} {d2:?}");
        for _ in 0..30 {
            s.record_restart();
        }
        assert_eq!(s.record_restart(), BACKOFF_CAP);
        assert_eq!(s.restarts(), 34);
    }

    #[test]
    fn fault_bounds_are_validated() {
        assert!(FaultAction::FailRate {
            ratio: 1.5,
            message: None
        }
        .validate()
        .is_err());
        assert!(FaultAction::CrashNext {
            count: 0,
            message: None
        }
        .validate()
        .is_err());
        assert!(FaultAction::Kill { down_ms: 10 }.validate().is_ok());
    }
}
