//! Supervision control for operators: list actors, inject and clear faults.
//! Called by the admin endpoints of both edges (admin token only).
use serde::{Deserialize, Serialize};

use super::supervision::{ActorState, FaultAction};
use crate::{
    mom::{post_office::Unregistered, registry::Slot, Mom, MOM_ACTOR},
    problem::Problem,
};

/// One actor as `/admin/actors` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActorInfo {
    pub name: String,
    pub state: ActorState,
    pub restarts: u64,
    /// Envelopes waiting for or in delivery to it.
    pub pending: u64,
    pub processed: u64,
    pub failures: u64,
    pub last_failure: Option<String>,
    /// Faults currently armed.
    pub faults: Vec<String>,
    /// Envelopes for it still pending in the journal (the actor list only).
    /// At rest this equals `pending`; more means envelopes on disk that the
    /// post office is not delivering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_pending: Option<u64>,
    /// Its oldest pending envelopes, oldest first, at most
    /// [`OLDEST_SHOWN`] (the actor list only): what is stuck, if it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oldest_pending: Vec<PendingEnvelope>,
}

/// How many of an actor's oldest pending envelopes the list shows.
pub const OLDEST_SHOWN: i64 = 3;

/// One pending envelope, as the actor list shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingEnvelope {
    /// The envelope (and operation) id.
    pub id: String,
    /// Its message type (`transfer`, `order.created`, ...).
    pub kind: String,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// Since it was journaled.
    pub age_ms: u64,
}

/// `{actor, action, ...}` — the body of `POST /admin/faults`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct FaultRequest {
    pub actor: String,
    #[serde(flatten)]
    pub action: FaultAction,
}

fn info(slot: &Slot) -> ActorInfo {
    ActorInfo {
        name: slot.stats.name.to_owned(),
        state: slot.stats.state(),
        restarts: slot.stats.restarts(),
        pending: slot.stats.pending(),
        processed: slot.stats.processed(),
        failures: slot.stats.failures(),
        last_failure: slot.stats.last_failure(),
        faults: slot.faults.describe(),
        journal_pending: None,
        oldest_pending: Vec::new(),
    }
}

/// Every actor, with its backlog as the journal has it. If the journal
/// cannot be read, the journal fields are left out.
pub async fn list(mom: &Mom) -> Vec<ActorInfo> {
    let mut all: Vec<ActorInfo> = mom.registry().all().iter().map(|s| info(s)).collect();
    let backlogs = match mom.backlogs(OLDEST_SHOWN).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "reading the journal's backlogs failed");
            return all;
        }
    };
    let now = crate::problem::now_ms();
    for a in &mut all {
        let b = backlogs.iter().find(|b| b.destination == a.name);
        a.journal_pending = Some(b.map_or(0, |b| b.count.max(0) as u64));
        a.oldest_pending = b
            .map(|b| {
                b.oldest
                    .iter()
                    .map(|e| PendingEnvelope {
                        id: e.id.clone(),
                        kind: e.kind.clone(),
                        attempts: e.attempts.max(0) as u32,
                        age_ms: (now - e.created_at).max(0) as u64,
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    all
}

fn slot(mom: &Mom, actor: &str) -> Result<std::sync::Arc<Slot>, Problem> {
    mom.registry()
        .get(actor)
        .ok_or_else(|| Problem::not_found(format!("no actor named `{actor}`")))
}

/// Arms `action` on `actor`; `kill` stops it now (in-flight work is dropped
/// and replayed after the restart).
pub fn inject(mom: &Mom, actor: &str, action: &FaultAction) -> Result<ActorInfo, Problem> {
    action.validate()?;
    let slot = slot(mom, actor)?;
    slot.faults.arm(action);
    if let FaultAction::Kill { down_ms } = action {
        tracing::warn!(actor, down_ms, "fault injected: kill");
        // Stop routing to it at once (what was in flight is replayed).
        let epoch = slot.kill();
        if actor != MOM_ACTOR {
            mom.post_office().do_send(Unregistered {
                name: slot.stats.name,
            });
        }
        slot.stop(epoch);
    } else {
        tracing::warn!(actor, ?action, "fault injected");
    }
    Ok(info(&slot))
}

/// Disarms every fault on `actor` (a pending down period included).
pub fn clear(mom: &Mom, actor: &str) -> Result<ActorInfo, Problem> {
    let slot = slot(mom, actor)?;
    slot.faults.clear();
    tracing::info!(actor, "faults cleared");
    Ok(info(&slot))
}
