//! One method per message in the dispatch table (`mod.rs`).
use uuid::Uuid;

use super::{
    store::{self, WalletStore},
    Credit, Debit, Deposit, DepositCompleted, GetWallet, ListTransfers, Recipient, Transfer,
    TransferCompleted, TransferView, WalletError, WalletView, Wallets, CURRENCY,
};
use crate::{
    actors::{
        payments::{WalletDebitFailed, WalletDebited},
        users::{normalize_email, UserDeleted, UserRegistered},
        Cx, Done, Failure, Handled,
    },
    problem::{rfc3339, Paged},
};

impl Wallets {
    pub(super) fn deposit(&mut self, cx: &mut Cx<'_>, cmd: Deposit) -> Handled<WalletView> {
        let mut store = WalletStore(cx.db);
        let account = store
            .open_account(cmd.user_id)?
            .ok_or(WalletError::NoWallet)?;
        let balance = account
            .balance_cents
            .checked_add(cmd.amount_cents)
            .ok_or(WalletError::Overflow)?;
        store.set_balance(cmd.user_id, balance)?;
        store.record_deposit(cx.id, cmd.user_id, cmd.amount_cents, cx.created_at)?;
        Ok(Done::reply(WalletView {
            balance_cents: balance,
            currency: CURRENCY.into(),
        })
        .publish(&DepositCompleted {
            deposit_id: cx.id,
            user_id: cmd.user_id,
            amount_cents: cmd.amount_cents,
            balance_cents: balance,
        }))
    }

    pub(super) fn transfer(&mut self, cx: &mut Cx<'_>, cmd: Transfer) -> Handled<TransferView> {
        let mut store = WalletStore(cx.db);
        let from = store
            .open_account(cmd.from_user_id)?
            .ok_or(WalletError::NoWallet)?;
        let to = match &cmd.to {
            Recipient::UserId(id) => store.open_account(*id)?,
            Recipient::Email(e) => store.open_account_by_email(&normalize_email(e))?,
        }
        .ok_or(WalletError::RecipientNotFound)?;
        if to.user_id == from.user_id {
            return Err(WalletError::SelfTransfer.into());
        }
        if from.balance_cents < cmd.amount_cents {
            return Err(WalletError::InsufficientFunds {
                balance: from.balance_cents,
                amount: cmd.amount_cents,
            }
            .into());
        }
        let credited = to
            .balance_cents
            .checked_add(cmd.amount_cents)
            .ok_or(WalletError::Overflow)?;
        store.set_balance(from.user_id, from.balance_cents - cmd.amount_cents)?;
        store.set_balance(to.user_id, credited)?;
        let transfer = TransferView {
            id: cx.id,
            from_user_id: from.user_id,
            to_user_id: to.user_id,
            amount_cents: cmd.amount_cents,
            currency: CURRENCY.into(),
            note: cmd.note,
            created_at: rfc3339(cx.created_at),
        };
        store.record_transfer(&transfer, cx.created_at)?;
        Ok(Done::reply(transfer.clone()).publish(&TransferCompleted {
            transfer,
            from_email: from.email,
            to_email: to.email,
        }))
    }

    /// An order's debit: at most once per order; a repeat answers as the
    /// first did, refusals included.
    pub(super) fn debit(&mut self, cx: &mut Cx<'_>, cmd: Debit) -> Handled<()> {
        let mut store = WalletStore(cx.db);
        let done = Done::reply(());
        if let Some(p) = store.wallet_payment(cmd.order_id)? {
            return Ok(if p.state == store::REFUSED {
                done.send(&WalletDebitFailed {
                    order_id: cmd.order_id,
                    reason: p.reason.unwrap_or_else(|| "debit refused".into()),
                })
            } else {
                done.send(&WalletDebited {
                    order_id: cmd.order_id,
                })
            });
        }
        let refusal = match store.open_account(cmd.user_id)? {
            _ if cmd.amount_cents < 0 => Some("invalid amount".to_owned()),
            None => Some("no open wallet".to_owned()),
            Some(a) if a.balance_cents < cmd.amount_cents => Some(format!(
                "insufficient funds: balance {} cents, order total {} cents",
                a.balance_cents, cmd.amount_cents
            )),
            Some(a) => {
                store.set_balance(a.user_id, a.balance_cents - cmd.amount_cents)?;
                None
            }
        };
        let state = if refusal.is_some() {
            store::REFUSED
        } else {
            store::DEBITED
        };
        store.record_wallet_payment(
            cmd.order_id,
            cmd.user_id,
            cmd.amount_cents.max(0),
            state,
            refusal.as_deref(),
            cx.created_at,
        )?;
        tracing::info!(order = %cmd.order_id, user = %cmd.user_id, amount = cmd.amount_cents, state, "wallet debit");
        Ok(match refusal {
            Some(reason) => done.send(&WalletDebitFailed {
                order_id: cmd.order_id,
                reason,
            }),
            None => done.send(&WalletDebited {
                order_id: cmd.order_id,
            }),
        })
    }

    /// An order's refund: only a debited order, once; the amount is the
    /// one debited.
    pub(super) fn credit(&mut self, cx: &mut Cx<'_>, cmd: Credit) -> Handled<()> {
        let mut store = WalletStore(cx.db);
        let Some(p) = store
            .wallet_payment(cmd.order_id)?
            .filter(|p| p.state == store::DEBITED)
        else {
            return Ok(Done::reply(()));
        };
        let user_id = Uuid::parse_str(&p.user_id).unwrap_or(cmd.user_id);
        let Some(balance) = store.any_account_balance(user_id)? else {
            tracing::warn!(order = %cmd.order_id, user = %user_id, "credit for a missing account; ignored");
            return Ok(Done::reply(()));
        };
        let credited = balance
            .checked_add(p.amount_cents)
            .ok_or(WalletError::Overflow)?;
        store.set_balance(user_id, credited)?;
        store.set_wallet_payment_state(cmd.order_id, store::CREDITED, cx.created_at)?;
        tracing::info!(order = %cmd.order_id, user = %user_id, amount = p.amount_cents, "wallet credit");
        Ok(Done::reply(()))
    }

    pub(super) fn get_wallet(
        &mut self,
        cx: &mut Cx<'_>,
        q: GetWallet,
    ) -> Result<WalletView, Failure> {
        let account = WalletStore(cx.db)
            .open_account(q.user_id)?
            .ok_or(WalletError::NoWallet)?;
        Ok(WalletView {
            balance_cents: account.balance_cents,
            currency: CURRENCY.into(),
        })
    }

    pub(super) fn list_transfers(
        &mut self,
        cx: &mut Cx<'_>,
        q: ListTransfers,
    ) -> Result<Paged<TransferView>, Failure> {
        Ok(WalletStore(cx.db).transfers(q.user_id, q.page)?)
    }

    pub(super) fn user_registered(&mut self, cx: &mut Cx<'_>, e: UserRegistered) -> Handled<()> {
        WalletStore(cx.db).open(e.user_id, &e.email, cx.created_at)?;
        Ok(Done::reply(()))
    }

    pub(super) fn user_deleted(&mut self, cx: &mut Cx<'_>, e: UserDeleted) -> Handled<()> {
        WalletStore(cx.db).close(e.user_id)?;
        Ok(Done::reply(()))
    }
}
