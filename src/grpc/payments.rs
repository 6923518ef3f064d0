//! `mailroom.payments.v1.Payments`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, parse_uuid,
    pb::payments::{self as pb, payments_server::Payments},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::payments::{CardCheck, GetPayment, PaymentView, ValidateCard},
    context::NodeCtx,
};

pub struct PaymentsGrpc(pub Arc<NodeCtx>);

fn check(c: CardCheck) -> pb::CardCheck {
    pb::CardCheck {
        valid: c.valid,
        last4: c.last4,
        reason: c.reason,
    }
}

fn payment(p: PaymentView) -> pb::Payment {
    pb::Payment {
        order_id: p.order_id.to_string(),
        user_id: p.user_id.to_string(),
        amount_cents: p.amount_cents,
        currency: p.currency,
        method: p.method,
        status: p.status,
        card_last4: p.card_last4,
        failure_reason: p.failure_reason,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

#[tonic::async_trait]
impl Payments for PaymentsGrpc {
    #[tracing::instrument(skip_all)]
    async fn validate_card(
        &self,
        req: Request<pb::ValidateCardRequest>,
    ) -> Result<Response<pb::CardCheck>, Status> {
        caller(&self.0, &req).await?;
        let wait = wait_budget(&self.0, &req);
        let r = req.into_inner();
        let q = ValidateCard {
            number: r.number,
            expiry: r.expiry,
            cvv: r.cvv,
        };
        let c = self.0.mom.ask(&q, wait).await.map_err(mom_status)?;
        Ok(Response::new(check(c)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_payment(
        &self,
        req: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::Payment>, Status> {
        let c = caller(&self.0, &req).await?;
        let q = GetPayment {
            order_id: parse_uuid(&req.get_ref().order_id, "order_id")?,
            user_id: c.user_id,
            admin: c.is_admin(),
        };
        let p = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(payment(p)))
    }
}
