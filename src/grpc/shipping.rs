//! `mailroom.shipping.v1.Shipping`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, parse_uuid,
    pb::shipping::{self as pb, shipping_server::Shipping},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::shipping::{GetShipment, ShipmentView},
    context::NodeCtx,
};

pub struct ShippingGrpc(pub Arc<NodeCtx>);

fn shipment(s: ShipmentView) -> pb::Shipment {
    pb::Shipment {
        order_id: s.order_id.to_string(),
        user_id: s.user_id.to_string(),
        carrier: s.carrier,
        tracking_number: s.tracking_number,
        status: s.status,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

#[tonic::async_trait]
impl Shipping for ShippingGrpc {
    #[tracing::instrument(skip_all)]
    async fn get_shipment(
        &self,
        req: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        let c = caller(&self.0, &req).await?;
        let q = GetShipment {
            order_id: parse_uuid(&req.get_ref().order_id, "order_id")?,
            user_id: c.user_id,
            admin: c.is_admin(),
        };
        let s = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(shipment(s)))
    }
}
