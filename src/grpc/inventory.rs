//! `mailroom.inventory.v1.Inventory`: the same messages as `/inventory/*`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    admin, caller, exec_options, finish, page,
    pb::inventory::{self as pb, inventory_server::Inventory},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::inventory::{Decrease, GetStock, LowStock, SetStock, StockView},
    context::NodeCtx,
};

pub struct InventoryGrpc(pub Arc<NodeCtx>);

fn stock(v: StockView) -> pb::Stock {
    pb::Stock {
        sku: v.sku,
        on_hand: v.on_hand,
        reserved: v.reserved,
        available: v.available,
        reorder_point: v.reorder_point,
        sold: v.sold,
    }
}

#[tonic::async_trait]
impl Inventory for InventoryGrpc {
    #[tracing::instrument(skip_all)]
    async fn get_stock(
        &self,
        req: Request<pb::GetStockRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        caller(&self.0, &req).await?;
        let q = GetStock {
            sku: req.get_ref().sku.clone(),
        };
        let v = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(stock(v)))
    }

    #[tracing::instrument(skip_all)]
    async fn set_stock(
        &self,
        req: Request<pb::SetStockRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        let c = admin(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = SetStock {
            sku: r.sku,
            on_hand: r.on_hand,
            reorder_point: r.reorder_point,
        };
        finish(self.0.mom.execute(&cmd, opts).await, stock)
    }

    #[tracing::instrument(skip_all)]
    async fn decrease(
        &self,
        req: Request<pb::DecreaseRequest>,
    ) -> Result<Response<pb::Stock>, Status> {
        let c = admin(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = Decrease {
            sku: r.sku,
            quantity: r.quantity,
            order_id: r.order_id,
        };
        finish(self.0.mom.execute(&cmd, opts).await, stock)
    }

    #[tracing::instrument(skip_all)]
    async fn list_low_stock(
        &self,
        req: Request<pb::ListLowStockRequest>,
    ) -> Result<Response<pb::ListLowStockResponse>, Status> {
        admin(&self.0, &req).await?;
        let q = LowStock {
            page: page(req.get_ref().page, req.get_ref().page_size)?,
        };
        let p = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(pb::ListLowStockResponse {
            items: p.items.into_iter().map(stock).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }
}
