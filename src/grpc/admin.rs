//! `mailroom.admin.v1.Admin` (admin token).
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    admin, page, parse_uuid,
    pb::admin::{self as pb, admin_server::Admin},
    status::{mom_status, status},
};
use crate::{
    context::NodeCtx,
    mom::{
        control::{self, ActorInfo},
        supervision::{ActorState, FaultAction},
    },
};

pub struct AdminGrpc(pub Arc<NodeCtx>);

fn actor(a: ActorInfo) -> pb::ActorInfo {
    pb::ActorInfo {
        name: a.name,
        state: match a.state {
            ActorState::Running => "running",
            ActorState::Restarting => "restarting",
            ActorState::Down => "down",
        }
        .into(),
        restarts: a.restarts,
        pending: a.pending,
        processed: a.processed,
        last_failure: a.last_failure,
        failures: a.failures,
        faults: a.faults,
        journal_pending: a.journal_pending,
        oldest_pending: a
            .oldest_pending
            .into_iter()
            .map(|e| pb::PendingEnvelope {
                id: e.id,
                kind: e.kind,
                attempts: e.attempts,
                age_ms: e.age_ms,
            })
            .collect(),
    }
}

fn action(r: &pb::InjectFaultRequest) -> Result<FaultAction, Status> {
    let missing = |f: &str| Status::invalid_argument(format!("{} needs `{f}`", r.action));
    Ok(match r.action.as_str() {
        "kill" => FaultAction::Kill {
            down_ms: r.down_ms.unwrap_or(0),
        },
        "crash_next" => FaultAction::CrashNext {
            count: r.count.ok_or_else(|| missing("count"))?,
            message: r.message.clone(),
        },
        "delay" => FaultAction::Delay {
            ms: r.ms.ok_or_else(|| missing("ms"))?,
        },
        "fail_rate" => FaultAction::FailRate {
            ratio: r.ratio.ok_or_else(|| missing("ratio"))?,
            message: r.message.clone(),
        },
        other => {
            return Err(Status::invalid_argument(format!(
                "unknown action `{other}` (kill, crash_next, delay, fail_rate)"
            )))
        }
    })
}

#[tonic::async_trait]
impl Admin for AdminGrpc {
    #[tracing::instrument(skip_all)]
    async fn inject_fault(
        &self,
        req: Request<pb::InjectFaultRequest>,
    ) -> Result<Response<pb::InjectFaultResponse>, Status> {
        admin(&self.0, &req).await?;
        let a = action(req.get_ref())?;
        let info = control::inject(&self.0.mom, &req.get_ref().actor, &a).map_err(status)?;
        Ok(Response::new(pb::InjectFaultResponse {
            actor: Some(actor(info)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn clear_fault(
        &self,
        req: Request<pb::ClearFaultRequest>,
    ) -> Result<Response<pb::ClearFaultResponse>, Status> {
        admin(&self.0, &req).await?;
        let info = control::clear(&self.0.mom, &req.get_ref().actor).map_err(status)?;
        Ok(Response::new(pb::ClearFaultResponse {
            actor: Some(actor(info)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_actors(
        &self,
        req: Request<pb::ListActorsRequest>,
    ) -> Result<Response<pb::ListActorsResponse>, Status> {
        admin(&self.0, &req).await?;
        Ok(Response::new(pb::ListActorsResponse {
            items: control::list(&self.0.mom)
                .await
                .into_iter()
                .map(actor)
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_dead_letters(
        &self,
        req: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        admin(&self.0, &req).await?;
        let p = self
            .0
            .mom
            .dead_letters(page(req.get_ref().page, req.get_ref().page_size)?)
            .await
            .map_err(mom_status)?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            items: p
                .items
                .into_iter()
                .map(|d| pb::DeadLetter {
                    id: d.id.to_string(),
                    destination: d.destination,
                    message_type: d.message_type,
                    payload_json: d.payload.to_string(),
                    attempts: d.attempts.max(0) as u32,
                    last_error: d.last_error.unwrap_or_default(),
                    created_at: d.created_at,
                })
                .collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn retry_dead_letter(
        &self,
        req: Request<pb::RetryDeadLetterRequest>,
    ) -> Result<Response<pb::RetryDeadLetterResponse>, Status> {
        admin(&self.0, &req).await?;
        let id = parse_uuid(&req.get_ref().id, "id")?;
        if self.0.mom.retry_dead(id).await.map_err(mom_status)? {
            Ok(Response::new(pb::RetryDeadLetterResponse {
                id: id.to_string(),
                status: "pending".into(),
            }))
        } else {
            Err(Status::not_found(format!("{id} is not a dead letter")))
        }
    }
}
