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
    }
}

pub fn list(mom: &Mom) -> Vec<ActorInfo> {
    mom.registry().all().iter().map(|s| info(s)).collect()
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
        let epoch = slot.stats.bump_kill_epoch();
        slot.stats.set_state(ActorState::Down);
        if actor != MOM_ACTOR {
            // Stop routing to it at once; what was in flight is replayed.
            slot.unlink(None);
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
