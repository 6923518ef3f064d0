//! The authentication layer, shared by both edges (neither owns any of it):
//!
//! - [`Keys`]: JWT (HS256, expiring, 32+ byte secret). A token carries
//!   `sub`, `role`, `iat`, `exp` and `ver`, the account's token version when
//!   it was issued.
//! - [`revocation`]: a token is valid only while its account exists at that
//!   version ([`TokenVersions`] caches the answer for both edges).
//! - [`passwords`]: Argon2id with a bound on concurrent hashes and reused
//!   working memory ([`Passwords`]).
//! - [`limiter`]: login and register attempts per client address
//!   ([`AuthLimiter`]), the same budget on REST and gRPC.
pub mod limiter;
pub mod passwords;
pub mod revocation;

use std::{fs, io::Write, path::Path, time::Duration};

use anyhow::Context as _;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use limiter::{AuthLimiter, Limited};
pub use passwords::Passwords;
pub use revocation::TokenVersions;

use crate::problem::Problem;

/// The shortest JWT secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
    /// The account's token version at issue. Tokens issued before versions
    /// existed have none and count as version 0: they keep working until
    /// the account's first password change (or its deletion).
    #[serde(default)]
    ver: i64,
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Problem::forbidden("this operation needs an admin token"))
        }
    }
}

/// A token that passed signature, algorithm and expiry checks: who it
/// names and the token version it was issued at. Whether that account
/// still exists at that version is [`revocation`]'s question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub caller: Caller,
    pub version: i64,
}

/// A session token and when it expires (RFC 3339).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub token: String,
    pub expires_at: String,
}

/// Signing and verification keys. The secret itself is never logged.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Keys {
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "the JWT secret must be at least {MIN_SECRET_BYTES} bytes"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// A token for `user_id`, valid while the account's token version is `version`.
    pub fn issue(&self, user_id: Uuid, role: Role, version: i64) -> Result<Session, Problem> {
        let now = chrono::Utc::now();
        let exp = now + self.ttl;
        let claims = Claims {
            sub: user_id.to_string(),
            role,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            ver: version,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Problem::internal(format!("could not sign a token: {e}")))?;
        Ok(Session {
            token,
            expires_at: exp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }

    /// Verifies a bare token (signature, algorithm, expiry).
    pub fn verify(&self, token: &str) -> Result<Verified, Problem> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
        let user_id = Uuid::parse_str(&data.claims.sub)
            .map_err(|_| Problem::unauthorized("invalid token subject"))?;
        Ok(Verified {
            caller: Caller {
                user_id,
                role: data.claims.role,
            },
            version: data.claims.ver,
        })
    }

    /// Verifies an `Authorization` value (`Bearer <token>`).
    pub fn verify_bearer(&self, header: Option<&str>) -> Result<Verified, Problem> {
        let header =
            header.ok_or_else(|| Problem::unauthorized("missing Authorization: Bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Problem::unauthorized("Authorization must be `Bearer <token>`"))?;
        self.verify(token.trim())
    }
}

/// The JWT secret: the one given (checked for length), else the one kept in
/// `data/jwt-secret`, else a new random one written there (mode 0600).
pub fn load_or_create_secret(data: &Path, given: Option<&str>) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = given {
        anyhow::ensure!(
            s.len() >= MIN_SECRET_BYTES,
            "--jwt-secret must be at least {MIN_SECRET_BYTES} bytes"
        );
        return Ok(s.as_bytes().to_vec());
    }
    let path = data.join("jwt-secret");
    if let Ok(s) = fs::read_to_string(&path) {
        let s = s.trim();
        anyhow::ensure!(
            s.len() >= MIN_SECRET_BYTES,
            "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes",
            path.display()
        );
        return Ok(s.as_bytes().to_vec());
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&[7u8; 32], Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Keys::new(b"short", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn a_token_round_trips_and_a_forged_one_does_not() {
        let k = keys();
        let id = Uuid::now_v7();
        let s = k.issue(id, Role::Admin, 3).unwrap();
        let v = k.verify(&s.token).unwrap();
        assert_eq!(v.caller.user_id, id);
        assert_eq!(v.caller.role, Role::Admin);
        assert_eq!(v.version, 3);
        let other = Keys::new(&[8u8; 32], Duration::from_secs(60)).unwrap();
        assert!(other.verify(&s.token).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let now = chrono::Utc::now().timestamp();
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","role":"admin","iat":{now},"exp":{}}}"#,
            Uuid::now_v7(),
            now + 600
        ));
        assert!(keys().verify(&format!("{header}.{claims}.")).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let k = Keys::new(&[7u8; 32], Duration::from_secs(0)).unwrap();
        let mut k2 = k;
        k2.validation.leeway = 0;
        let s = k2.issue(Uuid::now_v7(), Role::Customer, 0).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(k2.verify(&s.token).is_err());
    }

    #[test]
    fn a_token_without_a_version_counts_as_version_0() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": Uuid::now_v7().to_string(), "role": "customer", "iat": now, "exp": now + 600
        });
        let token = encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap();
        assert_eq!(k.verify(&token).unwrap().version, 0);
    }
}
