//! Tokens die with their account: each account has a token version (the
//! `users` store's `token_version`, bumped by every password change), each
//! token carries the version it was issued at (`ver`), and a token is
//! accepted only while its account exists at that version. Deleting the
//! account or changing its password thus revokes every token issued before.
//!
//! [`TokenVersions`] is the cache both edges read so that this check stays
//! off the users actor on the hot path. An entry is trusted for `ttl` (a
//! few seconds); the edge that ran a password change or a deletion drops
//! the entry at once, so on a single node a revoked token is refused from
//! the next request on. The TTL bounds how long a node that did *not* run
//! the command keeps believing the old version: with several nodes each
//! holding its own cache (cluster mode), a revocation takes at most `ttl`
//! to reach all of them. A command that outlived its wait budget (202,
//! finished later) is also covered by the TTL only.
//!
//! When the users actor cannot answer (down, restarting), an entry up to
//! [`STALE_FOR`] past its TTL is still used: nothing can change a version
//! while the actor that owns them is down, so refusing every caller would
//! only turn a users outage into a whole-node outage. With no entry at all
//! the answer is 503.
use std::{
    collections::HashMap,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::problem::{Problem, ProblemKind};

/// How long past its TTL an entry may stand in for an unavailable users actor.
pub const STALE_FOR: Duration = Duration::from_secs(60);
/// How long a miss waits for the users actor.
pub const LOAD_WAIT: Duration = Duration::from_secs(2);
/// How long a refresh waits when a stale entry could answer instead.
pub const REFRESH_WAIT: Duration = Duration::from_millis(250);
/// Entries kept before old ones are dropped.
const MAX_ENTRIES: usize = 100_000;

/// What the users actor says about an account: its current token version,
/// or `None` when there is no such account.
pub type Current = Option<i64>;

#[derive(Debug, Clone, Copy)]
struct Entry {
    current: Current,
    at: Instant,
}

/// Per-account token versions, shared by both edges (held in `NodeCtx`).
pub struct TokenVersions {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, Entry>>,
    /// Bumped by every invalidation: a load that began before one does not
    /// store what it read (it may predate the change).
    epoch: AtomicU64,
}

impl std::fmt::Debug for TokenVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVersions")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenVersions {
    pub fn new(ttl: Duration) -> Self {
        TokenVersions {
            ttl,
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    /// The account's current version: from the cache while fresh, else
    /// from `load(wait)` (a query to the users actor).
    pub async fn current<F, Fut>(&self, user_id: Uuid, load: F) -> Result<Current, Problem>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<Current, Problem>>,
    {
        let epoch = self.epoch.load(Ordering::Acquire);
        let cached = self.lock().get(&user_id).copied();
        let now = Instant::now();
        let stale = match cached {
            Some(e) if now.duration_since(e.at) < self.ttl => return Ok(e.current),
            Some(e) if now.duration_since(e.at) < self.ttl + STALE_FOR => Some(e.current),
            _ => None,
        };
        let wait = if stale.is_some() {
            REFRESH_WAIT
        } else {
            LOAD_WAIT
        };
        match load(wait).await {
            Ok(current) => {
                let mut entries = self.lock();
                if self.epoch.load(Ordering::Acquire) == epoch {
                    if entries.len() >= MAX_ENTRIES {
                        let keep = self.ttl + STALE_FOR;
                        entries.retain(|_, e| e.at.elapsed() < keep);
                        if entries.len() >= MAX_ENTRIES {
                            entries.clear();
                        }
                    }
                    entries.insert(
                        user_id,
                        Entry {
                            current,
                            at: Instant::now(),
                        },
                    );
                }
                Ok(current)
            }
            Err(p) if p.kind == ProblemKind::Unavailable => stale.ok_or(p),
            Err(p) => Err(p),
        }
    }

    /// Forgets the account's entry: the next check asks the users actor.
    /// Called by the edge that ran a password change or a deletion.
    pub fn invalidate(&self, user_id: Uuid) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.lock().remove(&user_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // The map holds plain values: one poisoned by a panic elsewhere is still sound.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn fresh_entries_are_served_invalidated_ones_reloaded() {
        let cache = TokenVersions::new(Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        let id = Uuid::now_v7();
        let load = |v: Current| {
            let loads = &loads;
            move |_| async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(v)
            }
        };
        assert_eq!(cache.current(id, load(Some(0))).await.unwrap(), Some(0));
        assert_eq!(cache.current(id, load(Some(9))).await.unwrap(), Some(0));
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "the second read was cached"
        );
        cache.invalidate(id);
        assert_eq!(cache.current(id, load(None)).await.unwrap(), None);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expired_entries_are_reloaded_and_stand_in_only_while_users_is_down() {
        let cache = TokenVersions::new(Duration::ZERO);
        let id = Uuid::now_v7();
        cache.current(id, |_| async { Ok(Some(1)) }).await.unwrap();
        assert_eq!(
            cache.current(id, |_| async { Ok(Some(2)) }).await.unwrap(),
            Some(2),
            "a TTL of zero always reloads"
        );
        let down = || async { Err(Problem::unavailable("users is down")) };
        assert_eq!(
            cache.current(id, |_| down()).await.unwrap(),
            Some(2),
            "stale stands in for an unavailable users actor"
        );
        let other = Uuid::now_v7();
        assert_eq!(
            cache.current(other, |_| down()).await.unwrap_err().kind,
            ProblemKind::Unavailable
        );
        let refused = || async { Err(Problem::internal("boom")) };
        assert_eq!(
            cache.current(id, |_| refused()).await.unwrap_err().kind,
            ProblemKind::Internal,
            "only unavailability falls back"
        );
    }

    #[tokio::test]
    async fn a_load_racing_an_invalidation_is_not_stored() {
        let cache = TokenVersions::new(Duration::from_secs(60));
        let id = Uuid::now_v7();
        let v = cache
            .current(id, |_| async {
                // The password changes while the old version is in flight.
                cache.invalidate(id);
                Ok(Some(0))
            })
            .await
            .unwrap();
        assert_eq!(v, Some(0));
        assert_eq!(
            cache.current(id, |_| async { Ok(Some(1)) }).await.unwrap(),
            Some(1),
            "the racing read was not cached"
        );
    }
}
