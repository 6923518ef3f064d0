//! What every service's unit tests need: a migrated store of its own in a
//! temp dir, and a way to deliver messages to the service as the runtime
//! does — each in a savepoint that a failure rolls back, with a clock that
//! moves one millisecond per message.
//!
//! ```ignore
//! let mut t = TestKit::new(Wallets, crate::store::migrations::WALLETS);
//! t.event(&UserRegistered { .. });
//! let view = t.ok(&Deposit { user_id, amount_cents: 500 });
//! let problem = t.err(&Deposit { user_id, amount_cents: 0 });
//! ```
#![cfg(test)]

use diesel_migrations::EmbeddedMigrations;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{Effects, Failure, Incoming, Service};
use crate::{
    mom::{envelope::Dispatch, Destination, Event, Handles, Message},
    problem::Problem,
    store::{Conn, Db},
};

/// 2023-11-14T22:13:20Z: where every kit's clock starts.
pub const EPOCH_MS: i64 = 1_700_000_000_000;

pub struct TestKit<S: Service> {
    pub service: S,
    conn: Conn,
    /// The `created_at` of the next message, minus one.
    pub now: i64,
    _dir: tempfile::TempDir,
}

impl<S: Service> TestKit<S> {
    /// `service` over a fresh store migrated with `migrations`.
    pub fn new(service: S, migrations: EmbeddedMigrations) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = crate::store::open(&dir.path().join(format!("{}.db", S::NAME)), migrations, 1)
            .expect("open the store");
        Self {
            service,
            conn: pool.get().expect("a connection"),
            now: EPOCH_MS,
            _dir: dir,
        }
    }

    /// The store, for assertions the service's messages cannot make.
    pub fn db(&mut self) -> &mut Db {
        &mut self.conn
    }

    /// Delivers one envelope of `kind` as the runtime does, with envelope
    /// id `id`: in a savepoint that a failure rolls back.
    pub fn deliver_as(&mut self, id: Uuid, kind: &str, payload: &str) -> Result<Effects, Failure> {
        self.now += 1;
        let msg = Incoming {
            id,
            kind,
            payload,
            created_at: self.now,
        };
        let mut out = None;
        let service = &mut self.service;
        let _ = diesel::Connection::transaction(&mut *self.conn, |c| {
            let r = service.handle(c, &msg);
            let failed = r.is_err();
            out = Some(r);
            if failed {
                Err(diesel::result::Error::RollbackTransaction)
            } else {
                Ok(())
            }
        });
        out.expect("the savepoint ran")
    }

    /// Delivers a typed message (a fresh envelope id).
    pub fn deliver<M: Message<To = S>>(&mut self, msg: &M) -> Result<Effects, Failure>
    where
        S: Handles<M>,
    {
        let payload = serde_json::to_string(msg).expect("messages serialize");
        self.deliver_as(Uuid::now_v7(), M::KIND, &payload)
    }

    /// Delivers `msg` and decodes its reply; panics on a failure.
    pub fn ok<M: Message<To = S>>(&mut self, msg: &M) -> M::Reply
    where
        S: Handles<M>,
    {
        let fx = self
            .deliver(msg)
            .unwrap_or_else(|f| panic!("{} failed: {f:?}", M::KIND));
        serde_json::from_value(fx.reply).expect("the reply decodes")
    }

    /// Delivers `msg` and returns what it published and sent as well.
    pub fn effects<M: Message<To = S>>(&mut self, msg: &M) -> (M::Reply, Effects)
    where
        S: Handles<M>,
    {
        let fx = self
            .deliver(msg)
            .unwrap_or_else(|f| panic!("{} failed: {f:?}", M::KIND));
        let reply = serde_json::from_value(fx.reply.clone()).expect("the reply decodes");
        (reply, fx)
    }

    /// Delivers `msg`, which must be rejected; returns the problem.
    pub fn err<M: Message<To = S>>(&mut self, msg: &M) -> Problem
    where
        S: Handles<M>,
    {
        match self.deliver(msg) {
            Ok(fx) => panic!("{} succeeded: {}", M::KIND, fx.reply),
            Err(Failure::Rejected(p)) => p,
            Err(Failure::Transient(e)) => panic!("{} failed transiently: {e}", M::KIND),
        }
    }

    /// Delivers an event the service subscribes to; panics on a failure.
    pub fn event<E: Event>(&mut self, event: &E) -> Effects {
        assert!(
            S::SUBSCRIPTIONS.contains(&E::TOPIC),
            "{} does not subscribe to {}",
            S::NAME,
            E::TOPIC
        );
        let payload = serde_json::to_string(event).expect("events serialize");
        self.deliver_as(Uuid::now_v7(), E::TOPIC, &payload)
            .unwrap_or_else(|f| panic!("{} failed: {f:?}", E::TOPIC))
    }

    /// Delivers a command another service sent (from its [`Effects`]), as
    /// the MOM would; panics on a failure.
    pub fn dispatch(&mut self, d: &Dispatch) -> Effects {
        assert_eq!(d.destination, S::NAME, "sent elsewhere: {d:?}");
        self.deliver_as(Uuid::now_v7(), &d.kind, &d.payload)
            .unwrap_or_else(|f| panic!("{} failed: {f:?}", d.kind))
    }
}

/// The one command `fx` sends, decoded as `C`.
pub fn sent<C: Message>(fx: &Effects) -> C {
    assert_eq!(fx.send.len(), 1, "{:?}", fx.send);
    assert_eq!(fx.send[0].kind, C::KIND, "{:?}", fx.send);
    assert_eq!(fx.send[0].destination, <C::To as Destination>::NAME);
    serde_json::from_str(&fx.send[0].payload).expect("the command decodes")
}

/// The topics `fx` publishes, in order.
pub fn topics(fx: &Effects) -> Vec<&str> {
    fx.publish.iter().map(|p| p.topic.as_str()).collect()
}

/// The one event of type `E` that `fx` publishes.
pub fn published<E: Event + DeserializeOwned>(fx: &Effects) -> E {
    let mut it = fx.publish.iter().filter(|p| p.topic == E::TOPIC);
    let p = it
        .next()
        .unwrap_or_else(|| panic!("{} not published", E::TOPIC));
    assert!(it.next().is_none(), "{} published twice", E::TOPIC);
    serde_json::from_str(&p.payload).expect("the event decodes")
}
