//! What a service is made of, and the one table that routes its messages.
//!
//! A service is a unit struct with a dispatch table ([`dispatch!`]) that
//! names, for each message it handles, the method that handles it:
//!
//! ```ignore
//! dispatch! { Wallets = "wallets";
//!     commands { Deposit => deposit, Transfer => transfer }
//!     queries { GetWallet => get_wallet }
//!     events { UserRegistered => user_registered }
//! }
//! ```
//!
//! The table generates the service's [`Destination`] name, a
//! [`Handles`](crate::mom::Handles) impl for every command and query (so the
//! compiler refuses to send anything else to it), its event subscriptions,
//! and [`Service::handle`], which decodes an envelope by its kind, validates
//! it and calls the method with the typed message. Handlers are typed:
//!
//! - a command or event handler is `fn(&mut self, &mut Cx, M) -> Handled<M::Reply>`:
//!   a reply plus the events it publishes and the commands it sends;
//! - a query handler is `fn(&mut self, &mut Cx, Q) -> Result<Q::Reply, Failure>`:
//!   it cannot publish or send (and its transaction is rolled back anyway).
use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use crate::{
    mom::{
        envelope::{Dispatch, Publish},
        Command, Destination, Event, Handles, Message, Outcome,
    },
    problem::{Problem, ProblemKind},
    store::Db,
};

/// One message as the runtime hands it to a service.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The envelope id: derive ids of what this message creates from it, so
    /// a replay can never create a second one.
    pub id: Uuid,
    pub kind: &'a str,
    pub payload: &'a str,
    /// When the envelope was first written (ms).
    pub created_at: i64,
}

impl Incoming<'_> {
    /// The payload as `T`; a payload that does not decode is a permanent
    /// rejection (retrying cannot make it decode).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(self.payload).map_err(|e| {
            Failure::Rejected(
                Problem::bad_request(format!("malformed `{}` message: {e}", self.kind))
                    .with_code("malformed_message"),
            )
        })
    }
}

/// What a handler gets besides its message: the service's database, inside
/// the runtime's transaction, and the envelope's identity.
pub struct Cx<'a> {
    pub db: &'a mut Db,
    /// The envelope id (see [`Incoming::id`]).
    pub id: Uuid,
    /// When the envelope was first written (ms): the message's "now", the
    /// same on every replay.
    pub created_at: i64,
}

/// What handling a message produced, untyped: the runtime's currency.
#[derive(Debug, Default)]
pub struct Effects {
    pub reply: serde_json::Value,
    pub publish: Vec<Publish>,
    pub send: Vec<Dispatch>,
}

impl Effects {
    // Transitional: the untyped builders services used before their
    // dispatch tables; removed once every service returns `Done`.
    pub fn reply<T: Serialize>(value: &T) -> Result<Self, Failure> {
        Ok(Self {
            reply: serde_json::to_value(value).map_err(|e| Failure::Transient(e.to_string()))?,
            ..Self::default()
        })
    }

    pub fn publish<E: Event>(mut self, event: &E) -> Self {
        self.publish.push(Publish {
            topic: E::TOPIC.into(),
            payload: serde_json::to_string(event).expect("events serialize"),
        });
        self
    }

    pub fn send<C: Command>(mut self, cmd: &C) -> Self
    where
        C::To: Handles<C>,
    {
        self.send.push(Dispatch {
            destination: <C::To as Destination>::NAME.into(),
            kind: C::KIND.into(),
            payload: serde_json::to_string(cmd).expect("commands serialize"),
        });
        self
    }

    pub fn into_outcome(self) -> Outcome {
        Outcome {
            reply: Ok(self.reply),
            publish: self.publish,
            send: self.send,
        }
    }
}

/// What a command or event handler produced: its typed reply, the events
/// it publishes and the commands it sends — all journaled with the
/// message's completion, exactly once.
#[derive(Debug)]
#[must_use]
pub struct Done<R> {
    reply: R,
    publish: Vec<Publish>,
    send: Vec<Dispatch>,
}

/// A command or event handler's result.
pub type Handled<R> = Result<Done<R>, Failure>;

impl<R: Serialize> Done<R> {
    pub fn reply(reply: R) -> Self {
        Self {
            reply,
            publish: Vec::new(),
            send: Vec::new(),
        }
    }

    /// Publishes `event` on the `events` topic.
    pub fn publish<E: Event>(mut self, event: &E) -> Self {
        self.publish.push(Publish {
            topic: E::TOPIC.into(),
            payload: serde_json::to_string(event).expect("events serialize"),
        });
        self
    }

    /// Sends a command to another service (a saga step or its reply).
    pub fn send<C: Command>(mut self, cmd: &C) -> Self
    where
        C::To: Handles<C>,
    {
        self.send.push(Dispatch {
            destination: <C::To as Destination>::NAME.into(),
            kind: C::KIND.into(),
            payload: serde_json::to_string(cmd).expect("commands serialize"),
        });
        self
    }

    /// The untyped form the runtime records.
    pub fn into_effects(self) -> Result<Effects, Failure> {
        Ok(Effects {
            reply: serde_json::to_value(&self.reply)
                .map_err(|e| Failure::Transient(format!("unserializable reply: {e}")))?,
            publish: self.publish,
            send: self.send,
        })
    }
}

/// Why a message was not applied. The error policy is in [`crate::problem`].
#[derive(Debug)]
pub enum Failure {
    /// A business answer ("insufficient funds", "no such order"): recorded
    /// as the outcome, never retried.
    Rejected(Problem),
    /// Infrastructure (store busy, I/O): retried with back-off,
    /// dead-lettered after `max_deliveries`.
    Transient(String),
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Failure::Rejected(p)
    }
}

/// A store error at a service boundary. What retrying cannot change is
/// permanent: a row that is not there is a not-found answer, a broken
/// constraint a conflict. Everything else (busy, locked, I/O, a lost
/// connection) is transient.
impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match &e {
            E::NotFound => Failure::Rejected(
                Problem::new(ProblemKind::NotFound, "not found").with_code("not_found"),
            ),
            E::DatabaseError(K::UniqueViolation | K::CheckViolation, info) => Failure::Rejected(
                Problem::new(ProblemKind::Conflict, info.message().to_owned())
                    .with_code("conflict"),
            ),
            _ => Failure::Transient(e.to_string()),
        }
    }
}

/// A service: a destination with a message handler. Implemented by
/// [`dispatch!`]; nothing else should implement it by hand.
pub trait Service: Destination + Unpin {
    /// Event topics this service consumes.
    const SUBSCRIPTIONS: &'static [&'static str] = &[];

    /// Applies one message inside the runtime's transaction. Commands and
    /// events may change state; queries must not (their transaction is
    /// rolled back).
    fn handle(&mut self, db: &mut Db, msg: &Incoming<'_>) -> Result<Effects, Failure>;
}

/// The answer to a kind a service's table does not list (an envelope from
/// a newer build, or a corrupted one): permanent.
pub fn unhandled(service: &str, kind: &str) -> Failure {
    Failure::Rejected(
        Problem::bad_request(format!("{service} does not handle `{kind}`"))
            .with_code("unknown_message"),
    )
}

/// Decodes and validates one message of type `M` from `msg`.
pub fn decode<M: Message>(msg: &Incoming<'_>) -> Result<M, Failure> {
    let m: M = msg.decode()?;
    m.validate()?;
    Ok(m)
}

/// Decodes an event.
pub fn decode_event<E: Event>(msg: &Incoming<'_>) -> Result<E, Failure> {
    msg.decode()
}

/// A service's dispatch table; see the [module docs](self).
#[macro_export]
macro_rules! dispatch {
    (
        $svc:ty = $name:literal;
        $(commands { $($c:ty => $cf:ident),* $(,)? })?
        $(queries { $($q:ty => $qf:ident),* $(,)? })?
        $(events { $($e:ty => $ef:ident),* $(,)? })?
    ) => {
        impl $crate::mom::Destination for $svc {
            const NAME: &'static str = $name;
        }
        $($(impl $crate::mom::Handles<$c> for $svc {})*)?
        $($(impl $crate::mom::Handles<$q> for $svc {})*)?
        const _: () = {
            // Every kind and topic in the table routes to one handler.
            assert!(
                $crate::mom::message::unique(&[
                    $($(<$c as $crate::mom::Message>::KIND,)*)?
                    $($(<$q as $crate::mom::Message>::KIND,)*)?
                    $($(<$e as $crate::mom::Event>::TOPIC,)*)?
                ]),
                "a kind or topic appears twice in a dispatch table"
            );
        };
        impl $crate::actors::Service for $svc {
            const SUBSCRIPTIONS: &'static [&'static str] =
                &[$($(<$e as $crate::mom::Event>::TOPIC),*)?];

            fn handle(
                &mut self,
                db: &mut $crate::store::Db,
                msg: &$crate::actors::Incoming<'_>,
            ) -> ::std::result::Result<$crate::actors::Effects, $crate::actors::Failure> {
                #[allow(unused_mut, unused_variables)]
                let mut cx = $crate::actors::Cx {
                    db,
                    id: msg.id,
                    created_at: msg.created_at,
                };
                $($(
                    if msg.kind == <$c as $crate::mom::Message>::KIND {
                        let m: $c = $crate::actors::service::decode(msg)?;
                        let done: $crate::actors::Done<<$c as $crate::mom::Message>::Reply> =
                            <$svc>::$cf(self, &mut cx, m)?;
                        return done.into_effects();
                    }
                )*)?
                $($(
                    if msg.kind == <$q as $crate::mom::Message>::KIND {
                        let m: $q = $crate::actors::service::decode(msg)?;
                        let reply: <$q as $crate::mom::Message>::Reply =
                            <$svc>::$qf(self, &mut cx, m)?;
                        return $crate::actors::Done::reply(reply).into_effects();
                    }
                )*)?
                $($(
                    if msg.kind == <$e as $crate::mom::Event>::TOPIC {
                        let e: $e = $crate::actors::service::decode_event(msg)?;
                        let done: $crate::actors::Done<()> = <$svc>::$ef(self, &mut cx, e)?;
                        return done.into_effects();
                    }
                )*)?
                Err($crate::actors::service::unhandled($name, msg.kind))
            }
        }
    };
}

/// Gives a service's error enum (a `thiserror` enum whose messages are safe
/// to show) its problem kinds and stable codes, and the conversions to
/// [`Problem`] and [`Failure`]:
///
/// ```ignore
/// error_codes! { WalletError {
///     InvalidAmount => Unprocessable "wallet.invalid_amount",
///     InsufficientFunds { .. } => Conflict "wallet.insufficient_funds",
/// } }
/// ```
///
/// The match it generates is exhaustive, so a new variant without a code
/// does not compile; `CODES` lists them all for the docs.
#[macro_export]
macro_rules! error_codes {
    ($err:ty { $($v:ident $({ $($sf:tt)* })? $(( $($tf:tt)* ))? => $kind:ident $code:literal),* $(,)? }) => {
        impl $err {
            /// Every code this error carries, with its kind.
            pub const CODES: &'static [(&'static str, $crate::problem::ProblemKind)] =
                &[$(($code, $crate::problem::ProblemKind::$kind)),*];

            pub fn kind_and_code(&self) -> ($crate::problem::ProblemKind, &'static str) {
                match self {
                    $(Self::$v $({ $($sf)* })? $(( $($tf)* ))? => ($crate::problem::ProblemKind::$kind, $code),)*
                }
            }
        }

        impl From<$err> for $crate::problem::Problem {
            fn from(e: $err) -> Self {
                let (kind, code) = e.kind_and_code();
                $crate::problem::Problem::new(kind, e.to_string()).with_code(code)
            }
        }

        impl From<$err> for $crate::actors::Failure {
            fn from(e: $err) -> Self {
                $crate::actors::Failure::Rejected(e.into())
            }
        }
    };
}
