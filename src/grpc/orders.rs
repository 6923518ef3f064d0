//! `mailroom.orders.v1.Orders`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    admin, caller, exec_options, finish, page, parse_uuid,
    pb::orders::{self as pb, orders_server::Orders},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::orders::{
        self, Address, CancelOrder, CardInput, GetOrder, ItemRequest, ListOrders, OrderStatus,
        OrderView, PaymentInput, PlaceRequest, SetOrderStatus,
    },
    context::NodeCtx,
};

pub struct OrdersGrpc(pub Arc<NodeCtx>);

fn address_out(a: Address) -> pb::Address {
    pb::Address {
        name: a.name,
        line1: a.line1,
        line2: a.line2,
        city: a.city,
        postal_code: a.postal_code,
        country: a.country,
    }
}

fn order(o: OrderView) -> pb::Order {
    pb::Order {
        id: o.id.to_string(),
        user_id: o.user_id.to_string(),
        status: o.status.as_str().into(),
        lines: o
            .lines
            .into_iter()
            .map(|l| pb::OrderLine {
                sku: l.sku,
                title: l.title,
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
            })
            .collect(),
        total_cents: o.total_cents,
        currency: o.currency,
        payment_method: o.payment_method,
        shipping_address: Some(address_out(o.shipping_address)),
        failure_reason: o.failure_reason,
        tracking_number: o.tracking_number,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

fn place_request(r: pb::PlaceOrderRequest) -> Result<PlaceRequest, Status> {
    let payment = r
        .payment
        .ok_or_else(|| Status::invalid_argument("payment is required"))?;
    let a = r
        .shipping_address
        .ok_or_else(|| Status::invalid_argument("shipping_address is required"))?;
    Ok(PlaceRequest {
        items: (!r.items.is_empty()).then(|| {
            r.items
                .into_iter()
                .map(|i| ItemRequest {
                    sku: i.sku,
                    quantity: i.quantity,
                })
                .collect()
        }),
        payment: PaymentInput {
            method: payment.method,
            card: payment.card.map(|c| CardInput {
                number: c.number,
                expiry: c.expiry,
                cvv: c.cvv,
            }),
        },
        shipping_address: Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
        },
    })
}

#[tonic::async_trait]
impl Orders for OrdersGrpc {
    #[tracing::instrument(skip_all)]
    async fn place_order(
        &self,
        req: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = place_request(req.into_inner())?;
        finish(orders::place(&self.0.mom, c.user_id, r, opts).await, order)
    }

    #[tracing::instrument(skip_all)]
    async fn get_order(
        &self,
        req: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let c = caller(&self.0, &req).await?;
        let q = GetOrder {
            order_id: parse_uuid(&req.get_ref().id, "id")?,
            user_id: c.user_id,
            admin: c.is_admin(),
        };
        let o = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(order(o)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_orders(
        &self,
        req: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let q = ListOrders {
            user_id: c.user_id,
            admin: c.is_admin(),
            page: page(req.get_ref().page, req.get_ref().page_size)?,
        };
        let p = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(pb::ListOrdersResponse {
            items: p.items.into_iter().map(order).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_order(
        &self,
        req: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = CancelOrder {
            order_id: parse_uuid(&req.get_ref().id, "id")?,
            user_id: c.user_id,
            admin: c.is_admin(),
        };
        finish(self.0.mom.execute(&cmd, opts).await, order)
    }

    #[tracing::instrument(skip_all)]
    async fn set_order_status(
        &self,
        req: Request<pb::SetOrderStatusRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let a = admin(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(a.user_id))?;
        let status = OrderStatus::parse(&req.get_ref().status)
            .ok_or_else(|| Status::invalid_argument("unknown status"))?;
        let cmd = SetOrderStatus {
            order_id: parse_uuid(&req.get_ref().id, "id")?,
            status,
        };
        finish(self.0.mom.execute(&cmd, opts).await, order)
    }
}
