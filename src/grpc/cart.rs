//! `mailroom.cart.v1.Cart`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, exec_options, finish,
    pb::cart::{self as pb, cart_server::Cart},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::cart::{AddItem, CartView, ClearCart, GetCart, RemoveItem, SetQuantity},
    context::NodeCtx,
};

pub struct CartGrpc(pub Arc<NodeCtx>);

pub fn cart(c: CartView) -> pb::CartView {
    pb::CartView {
        items: c
            .items
            .into_iter()
            .map(|i| pb::CartItem {
                sku: i.sku,
                title: i.title,
                quantity: i.quantity,
                unit_price_cents: i.unit_price_cents,
                line_total_cents: i.line_total_cents,
            })
            .collect(),
        total_cents: c.total_cents,
        currency: c.currency,
    }
}

#[tonic::async_trait]
impl Cart for CartGrpc {
    #[tracing::instrument(skip_all)]
    async fn get_cart(
        &self,
        req: Request<pb::GetCartRequest>,
    ) -> Result<Response<pb::CartView>, Status> {
        let c = caller(&self.0, &req).await?;
        let view = self
            .0
            .mom
            .ask(&GetCart { user_id: c.user_id }, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(cart(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn add_item(
        &self,
        req: Request<pb::AddItemRequest>,
    ) -> Result<Response<pb::CartView>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = AddItem {
            user_id: c.user_id,
            sku: r.sku,
            quantity: r.quantity,
        };
        finish(self.0.mom.execute(&cmd, opts).await, cart)
    }

    #[tracing::instrument(skip_all)]
    async fn update_item(
        &self,
        req: Request<pb::UpdateItemRequest>,
    ) -> Result<Response<pb::CartView>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = SetQuantity {
            user_id: c.user_id,
            sku: r.sku,
            quantity: r.quantity,
        };
        finish(self.0.mom.execute(&cmd, opts).await, cart)
    }

    #[tracing::instrument(skip_all)]
    async fn remove_item(
        &self,
        req: Request<pb::RemoveItemRequest>,
    ) -> Result<Response<pb::CartView>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = RemoveItem {
            user_id: c.user_id,
            sku: req.into_inner().sku,
        };
        finish(self.0.mom.execute(&cmd, opts).await, cart)
    }

    #[tracing::instrument(skip_all)]
    async fn clear_cart(
        &self,
        req: Request<pb::ClearCartRequest>,
    ) -> Result<Response<pb::CartView>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = ClearCart { user_id: c.user_id };
        finish(self.0.mom.execute(&cmd, opts).await, cart)
    }
}
