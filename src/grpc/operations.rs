//! `mailroom.operations.v1.Operations` (owner or admin).
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, parse_uuid,
    pb::operations::{self as pb, operations_server::Operations},
    status::mom_status,
};
use crate::context::NodeCtx;

pub struct OperationsGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Operations for OperationsGrpc {
    #[tracing::instrument(skip_all)]
    async fn get_operation(
        &self,
        req: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let c = caller(&self.0, &req).await?;
        let id = parse_uuid(&req.get_ref().id, "id")?;
        let op = self
            .0
            .mom
            .operation(id)
            .await
            .map_err(mom_status)?
            .filter(|op| c.is_admin() || op.owner == Some(c.user_id))
            .ok_or_else(|| Status::not_found("no such operation"))?;
        Ok(Response::new(pb::Operation {
            id: op.id.to_string(),
            status: op.status,
            result_json: op.result.map(|v| v.to_string()),
            error: op.error.map(|p| p.detail),
        }))
    }
}
