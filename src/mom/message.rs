//! Typed messages: what may be sent where, checked by the compiler.
//!
//! A message names the service that handles it ([`Message::To`]), its
//! stable wire name ([`Message::KIND`], the `kind` column of the journal and
//! the key of the service's dispatch table: never rename one, or journals
//! written before will not replay) and its reply type. A service declares
//! the messages it handles in its dispatch table (`actors::dispatch!`), which
//! implements [`Handles`] for each; [`Mom::execute`](super::Mom::execute),
//! [`Mom::ask`](super::Mom::ask) and a handler's `send` all require it, so a
//! message cannot be sent to a service that has no handler for it:
//!
//! ```compile_fail,E0277
//! use mailroom::mom::{Command, Destination, ExecOptions, Message, Mom};
//! use serde::{Deserialize, Serialize};
//!
//! /// A command that names wallets as its destination, but wallets' dispatch
//! /// table does not list it.
//! #[derive(Serialize, Deserialize)]
//! struct Stray;
//! impl Message for Stray {
//!     type To = mailroom::actors::wallets::Wallets;
//!     const KIND: &'static str = "stray";
//!     type Reply = ();
//! }
//! impl Command for Stray {}
//!
//! async fn send(mom: &Mom) {
//!     let _ = mom.execute(&Stray, ExecOptions::default()).await;
//! }
//! ```
//!
//! The same call with a command wallets does handle compiles:
//!
//! ```no_run
//! use mailroom::mom::{ExecOptions, Mom};
//! use mailroom::actors::wallets::Deposit;
//!
//! async fn send(mom: &Mom) {
//!     let deposit = Deposit { user_id: uuid::Uuid::nil(), amount_cents: 100 };
//!     let _ = mom.execute(&deposit, ExecOptions::default()).await;
//! }
//! ```
use serde::{de::DeserializeOwned, Serialize};

use crate::problem::Problem;

/// Somewhere the MOM delivers: a service actor, named once.
pub trait Destination: 'static {
    /// The actor's name: journal `destination`, `/admin/actors`, faults.
    const NAME: &'static str;
}

/// A typed message for one destination.
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The service that handles it.
    type To: Destination;
    /// Its stable name on disk and in the dispatch table.
    const KIND: &'static str;
    /// What the handler answers.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
    /// Rules that need no state, checked at the edge before anything is
    /// written, and again by the handler (a replayed envelope is checked
    /// against today's rules).
    fn validate(&self) -> Result<(), Problem> {
        Ok(())
    }
}

/// Changes state: journaled, delivered at least once, applied effectively
/// once.
pub trait Command: Message {}

/// A read: delivered straight to the actor's mailbox, never journaled
/// (losing one loses nothing), answered inside a rolled-back transaction.
pub trait Query: Message {}

/// `S: Handles<M>` exactly when `S`'s dispatch table lists `M`.
pub trait Handles<M: Message>: Destination {}

/// A service event on the `events` topic (`user.registered`, ...): fanned
/// out to every service whose dispatch table lists it.
pub trait Event: Serialize + DeserializeOwned + Send + 'static {
    const TOPIC: &'static str;
}

/// Declares the messages one service handles, each with its stable kind and
/// its reply type, and optionally the function that validates it:
///
/// ```ignore
/// mailroom::messages! { to Wallets;
///     command Deposit = "deposit" -> WalletView, check Deposit::check;
///     query GetWallet = "get_wallet" -> WalletView;
/// }
/// ```
#[macro_export]
macro_rules! messages {
    (to $to:ty; $($body:tt)*) => { $crate::messages!(@each $to; $($body)*); };
    (@each $to:ty;) => {};
    (@each $to:ty; command $t:ty = $k:literal -> $r:ty $(, check $v:path)?; $($rest:tt)*) => {
        $crate::messages!(@message $to, $t, $k, $r $(, $v)?);
        impl $crate::mom::Command for $t {}
        $crate::messages!(@each $to; $($rest)*);
    };
    (@each $to:ty; query $t:ty = $k:literal -> $r:ty $(, check $v:path)?; $($rest:tt)*) => {
        $crate::messages!(@message $to, $t, $k, $r $(, $v)?);
        impl $crate::mom::Query for $t {}
        $crate::messages!(@each $to; $($rest)*);
    };
    (@message $to:ty, $t:ty, $k:literal, $r:ty) => {
        impl $crate::mom::Message for $t {
            type To = $to;
            const KIND: &'static str = $k;
            type Reply = $r;
        }
    };
    (@message $to:ty, $t:ty, $k:literal, $r:ty, $v:path) => {
        impl $crate::mom::Message for $t {
            type To = $to;
            const KIND: &'static str = $k;
            type Reply = $r;
            fn validate(&self) -> ::std::result::Result<(), $crate::problem::Problem> {
                $v(self)
            }
        }
    };
}

/// Declares events and their topics: `events! { UserRegistered = "user.registered"; }`.
#[macro_export]
macro_rules! events {
    ($($t:ty = $topic:literal;)*) => {
        $(impl $crate::mom::Event for $t {
            const TOPIC: &'static str = $topic;
        })*
    };
}

/// `true` if no two strings in `names` are equal; for compile-time checks
/// of dispatch tables (`const _: () = assert!(unique(&[...]))`).
pub const fn unique(names: &[&str]) -> bool {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if str_eq(names[i], names[j]) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::unique;

    #[test]
    fn unique_finds_a_repeated_name() {
        assert!(unique(&["a", "b", "ab"]));
        assert!(!unique(&["a", "b", "a"]));
        assert!(unique(&[]));
    }
}
