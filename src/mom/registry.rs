//! Who is where: one slot per actor (the MOM's own included) with its stats,
//! its faults and — while it is up — the link the post office delivers to.
//!
//! A link carries a generation number; every (re)registration gets a new
//! one, and work addressed to an older generation is void (the MOM replays
//! it to the new one).
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, RwLock,
    },
};

use actix::prelude::*;

use super::post_office::{Ask, Deliver, Stop};
use super::supervision::{ActorState, ActorStats, Faults};

/// How the post office reaches one incarnation of an actor.
#[derive(Clone)]
pub struct Link {
    pub generation: u64,
    pub deliver: Recipient<Deliver>,
    pub ask: Recipient<Ask>,
}

pub struct Slot {
    pub stats: ActorStats,
    pub faults: Faults,
    link: Mutex<Option<Link>>,
    /// A permanent strong address: actix's `Supervisor` only restarts an
    /// actor whose mailbox still has a strong sender, and links come and go.
    keeper: OnceLock<Recipient<Stop>>,
}

impl Slot {
    /// Keeps the actor restartable for the life of the node.
    pub fn keep(&self, stop: Recipient<Stop>) {
        let _ = self.keeper.set(stop);
    }
    /// Stops the actor (its supervisor restarts it), linked or not, unless
    /// an incarnation started at or after kill epoch `epoch` already runs.
    pub fn stop(&self, epoch: u64) {
        if let Some(k) = self.keeper.get() {
            k.do_send(Stop { epoch });
        }
    }
    /// A kill: a new kill epoch, the actor marked down and its link
    /// dropped, all under the link lock. An incarnation registering at the
    /// same moment either linked first (dropped here; the kill's [`Stop`]
    /// restarts it) or links after, under the new epoch — it started after
    /// the kill and already honours it. Returns the new epoch.
    pub fn kill(&self) -> u64 {
        let mut l = self.link.lock().expect("slot lock");
        let epoch = self.stats.bump_kill_epoch();
        self.stats.set_state(ActorState::Down);
        *l = None;
        epoch
    }
    /// Marks the incarnation that started at kill epoch `epoch` running —
    /// unless a kill came since (its `Stop` is on the way, and the actor
    /// stays down until its successor is up). True if it did.
    pub fn mark_running(&self, epoch: u64) -> bool {
        let _l = self.link.lock().expect("slot lock");
        if self.stats.kill_epoch() != epoch {
            return false;
        }
        self.stats.set_state(ActorState::Running);
        true
    }
    pub fn link(&self) -> Option<Link> {
        self.link.lock().expect("slot lock").clone()
    }
    /// Drops the link if it is still `generation`'s.
    pub fn unlink(&self, generation: u64) -> Option<Link> {
        let mut l = self.link.lock().expect("slot lock");
        match &*l {
            Some(cur) if cur.generation == generation => l.take(),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct Registry {
    slots: RwLock<BTreeMap<&'static str, Arc<Slot>>>,
    generations: AtomicU64,
}

impl Registry {
    /// Creates the slot for `name` (idempotent) and returns it.
    pub fn slot(&self, name: &'static str) -> Arc<Slot> {
        if let Some(s) = self.slots.read().expect("registry lock").get(name) {
            return s.clone();
        }
        self.slots
            .write()
            .expect("registry lock")
            .entry(name)
            .or_insert_with(|| {
                Arc::new(Slot {
                    stats: ActorStats::new(name),
                    faults: Faults::default(),
                    link: Mutex::new(None),
                    keeper: OnceLock::new(),
                })
            })
            .clone()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots.read().expect("registry lock").get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Slot>> {
        self.slots
            .read()
            .expect("registry lock")
            .values()
            .cloned()
            .collect()
    }

    /// Links a new incarnation, which started at kill epoch `epoch`, and
    /// marks it running; returns its generation. `None` if a kill came
    /// since it started: it must not be linked (the kill's `Stop` is in its
    /// mailbox and its successor registers instead).
    pub fn register(
        &self,
        name: &'static str,
        epoch: u64,
        deliver: Recipient<Deliver>,
        ask: Recipient<Ask>,
    ) -> Option<u64> {
        let slot = self.slot(name);
        let mut l = slot.link.lock().expect("slot lock");
        if slot.stats.kill_epoch() != epoch {
            return None;
        }
        let generation = self.generations.fetch_add(1, Ordering::AcqRel) + 1;
        *l = Some(Link {
            generation,
            deliver,
            ask,
        });
        slot.stats.set_state(ActorState::Running);
        Some(generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mom::{post_office::BatchReport, supervision::ActorState};

    /// Stands in for an incarnation: only its address matters here.
    struct Nobody;
    impl Actor for Nobody {
        type Context = Context<Self>;
    }
    impl Handler<Deliver> for Nobody {
        type Result = MessageResult<Deliver>;
        fn handle(&mut self, _: Deliver, _: &mut Context<Self>) -> Self::Result {
            MessageResult(BatchReport::default())
        }
    }
    impl Handler<Ask> for Nobody {
        type Result = Result<serde_json::Value, crate::problem::Problem>;
        fn handle(&mut self, _: Ask, _: &mut Context<Self>) -> Self::Result {
            Ok(serde_json::Value::Null)
        }
    }

    /// The race behind a stuck actor: a kill landing while the actor
    /// restarts. Whichever comes first, the kill never strands a running
    /// incarnation without its link, and an incarnation that started
    /// before the kill never links after it.
    #[actix::test]
    async fn a_kill_and_a_registration_never_leave_a_live_actor_unlinked() {
        let registry = Registry::default();
        let addr = Nobody.start();
        let register = |epoch| {
            registry.register(
                "svc",
                epoch,
                addr.clone().recipient(),
                addr.clone().recipient(),
            )
        };
        let slot = registry.slot("svc");
        let first = register(0).expect("no kill yet");
        assert_eq!(slot.stats.state(), ActorState::Running);

        // The kill drops the link and marks it down.
        let epoch = slot.kill();
        assert!(slot.link().is_none());
        assert_eq!(slot.stats.state(), ActorState::Down);
        // An incarnation that started before it does not link (its Stop is
        // on the way) ...
        assert_eq!(register(epoch - 1), None);
        assert!(slot.link().is_none());
        assert!(!slot.mark_running(epoch - 1));
        assert_eq!(slot.stats.state(), ActorState::Down);
        // ... one that started after it does, and runs.
        let second = register(epoch).expect("started after the kill");
        assert!(second > first);
        assert_eq!(slot.link().map(|l| l.generation), Some(second));
        assert_eq!(slot.stats.state(), ActorState::Running);
        // A stale incarnation's unlink leaves the current link alone.
        assert!(slot.unlink(first).is_none());
        assert_eq!(slot.link().map(|l| l.generation), Some(second));
    }
}
