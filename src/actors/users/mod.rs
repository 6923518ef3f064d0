//! `users`: accounts, roles and credentials. Publishes `user.registered`,
//! `user.updated`, `user.deleted`.
//!
//! Plain-text passwords never enter the MOM: the flows below validate and
//! hash (Argon2id, bounded, on the blocking pool: [`Passwords`])
//! before the command is built, so the journal only ever holds hashes.
//!
//! Each account has a token version, bumped by every password change; a
//! token is accepted only while its account exists at the version it was
//! issued at ([`authenticate`], cached in [`TokenVersions`]). The
//! last admin account cannot be deleted.
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Effects, Failure, Incoming, Service};
use crate::{
    auth::{Caller, Keys, Passwords, Role, TokenVersions},
    mom::{Command, Event, ExecOptions, Executed, Mom, MomError, Query},
    problem::Problem,
};

pub use store::UserStore;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("an account with this email already exists")]
    DuplicateEmail,
    #[error("no such user")]
    NotFound,
    #[error("invalid email or password")]
    BadCredentials,
    #[error("the last admin account cannot be deleted")]
    LastAdmin,
    #[error("{0}")]
    Invalid(String),
}

impl From<UserError> for Problem {
    fn from(e: UserError) -> Self {
        match e {
            UserError::DuplicateEmail => Problem::conflict(e.to_string()),
            UserError::NotFound => Problem::not_found(e.to_string()),
            UserError::BadCredentials => Problem::unauthorized(e.to_string()),
            UserError::LastAdmin => Problem::conflict(e.to_string()),
            UserError::Invalid(d) => Problem::invalid(d),
        }
    }
}

impl From<UserError> for Failure {
    fn from(e: UserError) -> Self {
        Failure::Rejected(e.into())
    }
}

/// A user as every edge shows it (never the hash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
}

/// An account and its current token version: what a session is issued for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub user: UserView,
    pub token_version: i64,
}

// ---- messages ----------------------------------------------------------

/// Creates an account. The user id is the envelope id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Register {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
}

impl crate::mom::Message for Register {
    type To = Users;
    const KIND: &'static str = "register";
    type Reply = UserView;
    fn validate(&self) -> Result<(), Problem> {
        validate_email(&self.email)?;
        validate_name(&self.name)
    }
}
impl Command for Register {}
impl crate::mom::Handles<Register> for Users {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateUser {
    pub user_id: Uuid,
    pub name: Option<String>,
    pub password_hash: Option<String>,
}

impl crate::mom::Message for UpdateUser {
    type To = Users;
    const KIND: &'static str = "update_user";
    type Reply = UserView;
    fn validate(&self) -> Result<(), Problem> {
        match &self.name {
            Some(n) => validate_name(n),
            None => Ok(()),
        }
    }
}
impl Command for UpdateUser {}
impl crate::mom::Handles<UpdateUser> for Users {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteUser {
    pub user_id: Uuid,
}

impl crate::mom::Message for DeleteUser {
    type To = Users;
    const KIND: &'static str = "delete_user";
    type Reply = UserView;
}
impl Command for DeleteUser {}
impl crate::mom::Handles<DeleteUser> for Users {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetUser {
    pub user_id: Uuid,
}

impl crate::mom::Message for GetUser {
    type To = Users;
    const KIND: &'static str = "get_user";
    type Reply = UserView;
}
impl Query for GetUser {}
impl crate::mom::Handles<GetUser> for Users {}

/// The stored hash for an email, for login (answered to the `login` flow only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindCredentials {
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub account: Account,
    pub password_hash: String,
}

impl crate::mom::Message for FindCredentials {
    type To = Users;
    const KIND: &'static str = "find_credentials";
    type Reply = Option<Credentials>;
}
impl Query for FindCredentials {}
impl crate::mom::Handles<FindCredentials> for Users {}

/// The account's current token version; `None` when there is no such
/// account (deleted, or never was). Asked by [`authenticate`] on a cache miss.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetTokenVersion {
    pub user_id: Uuid,
}

impl crate::mom::Message for GetTokenVersion {
    type To = Users;
    const KIND: &'static str = "get_token_version";
    type Reply = Option<i64>;
}
impl Query for GetTokenVersion {}
impl crate::mom::Handles<GetTokenVersion> for Users {}

// ---- events --------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
}
impl Event for UserRegistered {
    const TOPIC: &'static str = "user.registered";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserUpdated {
    pub user_id: Uuid,
    pub name: String,
}
impl Event for UserUpdated {
    const TOPIC: &'static str = "user.updated";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDeleted {
    pub user_id: Uuid,
    pub email: String,
}
impl Event for UserDeleted {
    const TOPIC: &'static str = "user.deleted";
}

// ---- rules -----------------------------------------------------------------

pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 256;

/// Lower-cased, trimmed.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Longest email address, in bytes (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL: usize = 254;
/// Longest local part (before the `@`), in bytes (RFC 5321, 4.5.3.1.1).
pub const MAX_EMAIL_LOCAL: usize = 64;

pub fn validate_email(email: &str) -> Result<(), Problem> {
    let ok = email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            (1..=MAX_EMAIL_LOCAL).contains(&local.len())
                && !domain.is_empty()
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid(format!(
            "email must look like name@domain: at most {MAX_EMAIL} bytes, at most {MAX_EMAIL_LOCAL} before the @"
        ))
        .into())
    }
}

pub fn validate_name(name: &str) -> Result<(), Problem> {
    let n = name.trim().chars().count();
    if n == 0 || n > 200 || name.chars().any(char::is_control) {
        return Err(UserError::Invalid("name must be 1 to 200 printable characters".into()).into());
    }
    Ok(())
}

pub fn validate_password(password: &str) -> Result<(), Problem> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(UserError::Invalid(format!(
            "password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        ))
        .into());
    }
    Ok(())
}

// ---- flows the edges call ----------------------------------------------------

/// Validates, hashes the password off the async workers, and registers.
///
/// Registration is anonymous, so an `Idempotency-Key` cannot be scoped to a
/// caller: a keyed answer is only returned (and a session only issued by
/// the edge) to a caller who proves the account's email and password —
/// otherwise someone replaying another's key would be handed their account.
pub async fn register(
    mom: &Mom,
    passwords: &Passwords,
    email: &str,
    password: String,
    name: &str,
    role: Role,
    opts: ExecOptions,
) -> Result<Executed<Account>, MomError> {
    let email = normalize_email(email);
    validate_email(&email)?;
    validate_name(name)?;
    validate_password(&password)?;
    let keyed = opts.idempotency_key.is_some();
    let wait = opts.wait;
    let password_hash = passwords.hash(password.clone()).await?;
    let cmd = Register {
        email: email.clone(),
        name: name.trim().to_owned(),
        password_hash,
        role,
    };
    let user = match mom.execute(&cmd, opts).await? {
        Executed::Accepted(id) => return Ok(Executed::Accepted(id)),
        Executed::Done(user) => user,
    };
    if !keyed {
        // A new account starts at token version 0.
        return Ok(Executed::Done(Account {
            user,
            token_version: 0,
        }));
    }
    let proof = if user.email == email {
        login(
            mom,
            passwords,
            &email,
            password,
            wait.max(std::time::Duration::from_secs(2)),
        )
        .await
        .ok()
        .filter(|a| a.user.id == user.id)
    } else {
        None
    };
    proof.map(Executed::Done).ok_or_else(|| {
        Problem::conflict("this Idempotency-Key was already used for a different registration")
            .into()
    })
}

/// A fixed hash of a random password: unknown emails cost a verify too.
const DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0nbZ7y5bCF8t6rRWGTvEnVKiJ8e3Yr4LkEGx+C7rQXU";

/// Checks credentials; the same answer for an unknown email and a wrong
/// password, after the same amount of hashing work.
pub async fn login(
    mom: &Mom,
    passwords: &Passwords,
    email: &str,
    password: String,
    wait: std::time::Duration,
) -> Result<Account, MomError> {
    let found = mom
        .ask(
            &FindCredentials {
                email: normalize_email(email),
            },
            wait,
        )
        .await?;
    let (hash, account) = match found {
        Some(c) => (c.password_hash, Some(c.account)),
        None => (DECOY.to_owned(), None),
    };
    let ok = passwords.verify(password, hash).await?;
    match account {
        Some(a) if ok => Ok(a),
        _ => Err(UserError::BadCredentials.into()),
    }
}

/// The caller behind `Authorization: Bearer <token>`, on every
/// authenticated route of both edges: the token's signature and expiry
/// ([`Keys`]), then its account — which must still exist at the token
/// version the token was issued at (401 otherwise; 503 when the users actor
/// cannot say and nothing is cached).
pub async fn authenticate(
    mom: &Mom,
    keys: &Keys,
    versions: &TokenVersions,
    bearer: Option<&str>,
) -> Result<Caller, Problem> {
    let token = keys.verify_bearer(bearer)?;
    let user_id = token.caller.user_id;
    let current = versions
        .current(user_id, |wait| async move {
            mom.ask(&GetTokenVersion { user_id }, wait)
                .await
                .map_err(Problem::from)
        })
        .await?;
    match current {
        Some(v) if v == token.version => Ok(token.caller),
        Some(_) => Err(Problem::unauthorized(
            "this token was revoked by a password change; log in again",
        )),
        None => Err(Problem::unauthorized(
            "this token's account no longer exists",
        )),
    }
}

/// Updates name and/or password (hashed here).
pub async fn update(
    mom: &Mom,
    passwords: &Passwords,
    user_id: Uuid,
    name: Option<String>,
    password: Option<String>,
    opts: ExecOptions,
) -> Result<Executed<UserView>, MomError> {
    let password_hash = match password {
        Some(p) => {
            validate_password(&p)?;
            Some(passwords.hash(p).await?)
        }
        None => None,
    };
    let cmd = UpdateUser {
        user_id,
        name: name.map(|n| n.trim().to_owned()),
        password_hash,
    };
    mom.execute(&cmd, opts).await
}

impl From<UserError> for MomError {
    fn from(e: UserError) -> Self {
        MomError::Rejected(e.into())
    }
}

// ---- the actor -----------------------------------------------------------------

/// The users service.
#[derive(Debug, Default)]
pub struct Users;

impl crate::mom::Destination for Users {
    const NAME: &'static str = "users";
}

impl Service for Users {
    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = UserStore(conn);
        match msg.kind {
            Register::KIND => {
                let cmd: Register = msg.decode()?;
                cmd.validate()?;
                if store.find_by_email(&cmd.email)?.is_some() {
                    return Err(UserError::DuplicateEmail.into());
                }
                let user = store.insert(msg.id, &cmd, msg.created_at)?;
                Ok(Effects::reply(&user)?.publish(&UserRegistered {
                    user_id: user.id,
                    email: user.email.clone(),
                    name: user.name.clone(),
                    role: user.role,
                }))
            }
            UpdateUser::KIND => {
                let cmd: UpdateUser = msg.decode()?;
                cmd.validate()?;
                let user = store
                    .update(
                        cmd.user_id,
                        cmd.name.as_deref(),
                        cmd.password_hash.as_deref(),
                    )?
                    .ok_or(UserError::NotFound)?;
                Ok(Effects::reply(&user)?.publish(&UserUpdated {
                    user_id: user.id,
                    name: user.name.clone(),
                }))
            }
            DeleteUser::KIND => {
                let cmd: DeleteUser = msg.decode()?;
                let user = store.get(cmd.user_id)?.ok_or(UserError::NotFound)?;
                if user.role == Role::Admin && store.count_admins()? <= 1 {
                    return Err(UserError::LastAdmin.into());
                }
                let user = store.delete(cmd.user_id)?.ok_or(UserError::NotFound)?;
                Ok(Effects::reply(&user)?.publish(&UserDeleted {
                    user_id: user.id,
                    email: user.email.clone(),
                }))
            }
            GetUser::KIND => {
                let q: GetUser = msg.decode()?;
                let user = store.get(q.user_id)?.ok_or(UserError::NotFound)?;
                Effects::reply(&user)
            }
            FindCredentials::KIND => {
                let q: FindCredentials = msg.decode()?;
                Effects::reply(&store.credentials(&q.email)?)
            }
            GetTokenVersion::KIND => {
                let q: GetTokenVersion = msg.decode()?;
                Effects::reply(&store.token_version(q.user_id)?)
            }
            other => Err(Problem::bad_request(format!("users does not handle `{other}`")).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_is_a_full_cost_argon2id_hash() {
        // If it did not parse, an unknown email would answer without any
        // hashing work, and timing would tell which emails have accounts.
        let h = argon2::password_hash::PasswordHash::new(DECOY).unwrap();
        let p = argon2::Params::try_from(&h).unwrap();
        assert_eq!(h.algorithm.as_str(), "argon2id");
        assert_eq!(
            (p.m_cost(), p.t_cost(), p.p_cost()),
            (
                argon2::Params::DEFAULT_M_COST,
                argon2::Params::DEFAULT_T_COST,
                argon2::Params::DEFAULT_P_COST
            )
        );
    }
}
