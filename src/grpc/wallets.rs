//! `mailroom.wallets.v1.Wallets`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, exec_options, finish, page, parse_uuid,
    pb::wallets::{self as pb, transfer_request::To, wallets_server::Wallets},
    status::{mom_status, status},
    wait_budget,
};
use crate::{
    actors::wallets::{Deposit, GetWallet, ListTransfers, Transfer, TransferView, WalletView},
    context::NodeCtx,
    http::wallets::recipient,
};

pub struct WalletsGrpc(pub Arc<NodeCtx>);

fn wallet(w: WalletView) -> pb::Wallet {
    pb::Wallet {
        balance_cents: w.balance_cents,
        currency: w.currency,
    }
}

fn transfer(t: TransferView) -> pb::TransferRecord {
    pb::TransferRecord {
        id: t.id.to_string(),
        from_user_id: t.from_user_id.to_string(),
        to_user_id: t.to_user_id.to_string(),
        amount_cents: t.amount_cents,
        currency: t.currency,
        note: t.note,
        created_at: t.created_at,
    }
}

#[tonic::async_trait]
impl Wallets for WalletsGrpc {
    #[tracing::instrument(skip_all)]
    async fn get_wallet(
        &self,
        req: Request<pb::GetWalletRequest>,
    ) -> Result<Response<pb::Wallet>, Status> {
        let c = caller(&self.0, &req).await?;
        let w = self
            .0
            .mom
            .ask(
                &GetWallet { user_id: c.user_id },
                wait_budget(&self.0, &req),
            )
            .await
            .map_err(mom_status)?;
        Ok(Response::new(wallet(w)))
    }

    #[tracing::instrument(skip_all)]
    async fn deposit(
        &self,
        req: Request<pb::DepositRequest>,
    ) -> Result<Response<pb::Wallet>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = Deposit {
            user_id: c.user_id,
            amount_cents: req.get_ref().amount_cents,
        };
        finish(self.0.mom.execute(&cmd, opts).await, wallet)
    }

    #[tracing::instrument(skip_all)]
    async fn transfer(
        &self,
        req: Request<pb::TransferRequest>,
    ) -> Result<Response<pb::TransferRecord>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let (email, id) = match r.to {
            Some(To::ToEmail(e)) => (Some(e), None),
            Some(To::ToUserId(id)) => (None, Some(parse_uuid(&id, "to_user_id")?)),
            None => (None, None),
        };
        let cmd = Transfer {
            from_user_id: c.user_id,
            to: recipient(email, id).map_err(status)?,
            amount_cents: r.amount_cents,
            note: r.note,
        };
        finish(self.0.mom.execute(&cmd, opts).await, transfer)
    }

    #[tracing::instrument(skip_all)]
    async fn list_transfers(
        &self,
        req: Request<pb::ListTransfersRequest>,
    ) -> Result<Response<pb::ListTransfersResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let q = ListTransfers {
            user_id: c.user_id,
            page: page(req.get_ref().page, req.get_ref().page_size)?,
        };
        let p = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(pb::ListTransfersResponse {
            items: p.items.into_iter().map(transfer).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }
}
