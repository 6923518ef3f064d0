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
use crate::actors::supervision::{ActorStats, Faults};

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
    pub fn link(&self) -> Option<Link> {
        self.link.lock().expect("slot lock").clone()
    }
    /// Drops the link if it is still `generation`'s (or any, with `None`).
    pub fn unlink(&self, generation: Option<u64>) -> Option<Link> {
        let mut l = self.link.lock().expect("slot lock");
        match (&*l, generation) {
            (Some(cur), Some(g)) if cur.generation != g => None,
            _ => l.take(),
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

    /// Registers a new incarnation; returns its generation.
    pub fn register(
        &self,
        name: &'static str,
        deliver: Recipient<Deliver>,
        ask: Recipient<Ask>,
    ) -> u64 {
        let generation = self.generations.fetch_add(1, Ordering::AcqRel) + 1;
        *self.slot(name).link.lock().expect("slot lock") = Some(Link {
            generation,
            deliver,
            ask,
        });
        generation
    }
}
