//! What both edges share while the node runs: the MOM handle, the token
//! keys and checks, the password hashing bound, the login limiter and the
//! default wait budget. The node builds it; the edges only read it.
use std::time::Duration;

use crate::{
    auth::{AuthLimiter, Keys, Passwords, TokenVersions},
    mom::Mom,
};

/// What both edges share.
pub struct NodeCtx {
    pub mom: Mom,
    pub keys: Keys,
    /// Wait budget when the client sends no `Prefer: wait=N`.
    pub default_wait: Duration,
    /// Login and register attempts per client address, on both edges.
    pub auth_limiter: AuthLimiter,
    /// Bounded Argon2id with reused memory: every hash and verification.
    pub passwords: Passwords,
    /// Each account's token version, cached for both edges' token checks.
    pub token_versions: TokenVersions,
}
