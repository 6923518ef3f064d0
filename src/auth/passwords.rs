//! Argon2id password hashing with a bound and with memory that comes back.
//!
//! Each Argon2id hash or verification (19 MiB, t=2, p=1: the crate's
//! recommended parameters) needs 19 MiB of working memory. Left to itself
//! the crate allocates it per call, and under a flood of logins glibc keeps
//! what it freed: a freed 19 MiB mmap chunk raises malloc's dynamic mmap
//! threshold, later chunks come from per-thread arenas instead, and those
//! are not returned to the system (a node went from 40 MiB to 6 GiB, and
//! stayed there). So here:
//!
//! - at most `concurrency` hashes run at once (a permit each, on the
//!   blocking pool, never on an edge's async workers);
//! - each running hash borrows one of `concurrency` memory blocks, allocated
//!   on first use and reused forever — the node's hashing memory is
//!   `concurrency × 19 MiB`, whatever the load;
//! - at most `queue` callers wait for a permit (first come, first served);
//!   beyond that the answer is at once [`busy`]: 429 / RESOURCE_EXHAUSTED
//!   with a one-second retry hint. A flood of wrong passwords is thus
//!   answered quickly and cheaply instead of piling up tasks and memory.
//!
//! The PHC strings are the ones `Argon2::hash_password` writes
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so stored hashes stay
//! valid both ways.
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use argon2::{
    password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::problem::{Problem, ProblemKind};

/// Seconds a caller refused with [`busy`] is told to wait.
pub const BUSY_RETRY_AFTER_S: u64 = 1;

/// 429 / RESOURCE_EXHAUSTED: every hashing slot and queue place is taken.
pub fn busy() -> Problem {
    Problem::new(
        ProblemKind::RateLimited,
        format!("too many password checks in progress; retry in {BUSY_RETRY_AFTER_S} s"),
    )
}

/// Bounded, memory-reusing Argon2id. One per node, shared by both edges.
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Most callers waiting for a permit.
    queue: usize,
    /// Callers waiting now.
    waiting: AtomicUsize,
    /// Working memory, at most one block per permit (a block is only taken
    /// by a holder of a permit).
    blocks: Arc<Mutex<Vec<Box<[Block]>>>>,
    concurrency: usize,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("concurrency", &self.concurrency)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// Leaves the wait queue when dropped (also when the caller gives up).
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// `concurrency` hashes at once (0: one per CPU), `queue` waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        tracing::info!(concurrency, queue, "password hashing bounded");
        Passwords {
            permits: Arc::new(Semaphore::new(concurrency)),
            queue,
            waiting: AtomicUsize::new(0),
            blocks: Arc::new(Mutex::new(Vec::with_capacity(concurrency))),
            concurrency,
        }
    }

    /// Hashes running at most at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// A new salted Argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, Problem> {
        self.run(move |mem| hash_with(password.as_bytes(), mem))
            .await?
    }

    /// Whether `password` matches the stored PHC string `phc`
    /// (constant-time compare; an unreadable `phc` matches nothing).
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, Problem> {
        self.run(move |mem| verify_with(password.as_bytes(), &phc, mem))
            .await
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, Problem> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let _in_queue = InQueue(&self.waiting);
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Problem::internal("password hashing is shut down"))
    }

    /// Runs `f` on the blocking pool with a permit and a memory block. The
    /// permit travels with the work: a caller that gives up (its client
    /// went away) does not free the slot before the hash is done.
    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut [Block]) -> R + Send + 'static,
    ) -> Result<R, Problem> {
        let permit = self.permit().await?;
        let blocks = self.blocks.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = blocks.lock().ok().and_then(|mut b| b.pop());
            let mut mem = taken
                .unwrap_or_else(|| vec![Block::default(); Params::default().block_count()].into());
            let out = f(&mut mem);
            if let Ok(mut b) = blocks.lock() {
                b.push(mem);
            }
            out
        })
        .await
        .map_err(|e| Problem::internal(format!("password hashing failed: {e}")))
    }
}

fn hash_with(password: &[u8], mem: &mut [Block]) -> Result<String, Problem> {
    let fail =
        |e: &dyn std::fmt::Display| Problem::internal(format!("password hashing failed: {e}"));
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| fail(&e))?;
    let output = Output::init_with(
        params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        |out| Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut *mem)?),
    )
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], phc: &str, mem: &mut [Block]) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    // A hash stored with more memory than today's parameters (none are)
    // gets its own buffer rather than a pooled one.
    let mut own = Vec::new();
    let mem = if params.block_count() <= mem.len() {
        mem
    } else {
        own.resize(params.block_count(), Block::default());
        &mut own[..]
    };
    let argon = Argon2::new(algorithm, version, params);
    Output::init_with(expected.len(), |out| {
        Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut *mem)?)
    })
    // `Output`'s equality is constant-time.
    .is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_compatible_with_the_crate_both_ways() {
        let p = Passwords::new(2, 4);
        let ours = p.hash("correct horse".into()).await.unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        // The crate's own verifier accepts ours...
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        // ...and ours accepts the crate's (every hash stored so far).
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(p
            .verify("battery staple".into(), theirs.clone())
            .await
            .unwrap());
        assert!(!p.verify("battery stapler".into(), theirs).await.unwrap());
        assert!(p
            .verify("correct horse".into(), ours.clone())
            .await
            .unwrap());
        assert!(!p.verify("wrong".into(), ours).await.unwrap());
        assert!(!p.verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_callers_are_told_to_come_back() {
        let p = Arc::new(Passwords::new(1, 2));
        let h = p.hash("a password".into()).await.unwrap();
        let tries: Vec<_> = (0..12)
            .map(|_| {
                let (p, h) = (p.clone(), h.clone());
                tokio::spawn(async move { p.verify("wrong".into(), h).await })
            })
            .collect();
        let mut done = 0;
        let mut refused = 0;
        for t in tries {
            match t.await.unwrap() {
                Ok(ok) => {
                    assert!(!ok);
                    done += 1;
                }
                Err(e) => {
                    assert_eq!(e.kind, ProblemKind::RateLimited, "{e}");
                    refused += 1;
                }
            }
        }
        assert!(done >= 1, "some were hashed");
        assert!(refused >= 1, "some were refused ({done} done)");
        assert!(
            p.blocks.lock().unwrap().len() <= 1,
            "one block per slot, reused"
        );
        assert_eq!(p.waiting.load(Ordering::Acquire), 0);
    }
}
