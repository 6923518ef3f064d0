//! `wallets`: one account per user (opened by `user.registered`), deposits,
//! transfers, and wallet payments for orders (`Debit` / `Credit` from
//! `payments`, each at most once per order). A balance never goes negative;
//! the sum of all balances = deposits − debits + credits. Publishes `wallet.deposit.completed` and
//! `wallet.transfer.completed`.
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    payments::{WalletDebitFailed, WalletDebited},
    users::{UserDeleted, UserRegistered},
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::{Page, Paged, Problem},
};

pub use store::WalletStore;

pub const CURRENCY: &str = "USD";
/// Largest single deposit or transfer: one million dollars.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000;
pub const MAX_NOTE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("amount_cents must be between 1 and {MAX_AMOUNT_CENTS}")]
    InvalidAmount,
    #[error("note must be at most {MAX_NOTE} characters")]
    NoteTooLong,
    #[error("you have no open wallet")]
    NoWallet,
    #[error("recipient not found")]
    RecipientNotFound,
    #[error("cannot transfer to yourself")]
    SelfTransfer,
    #[error("insufficient funds: balance {balance} cents, transfer {amount} cents")]
    InsufficientFunds { balance: i64, amount: i64 },
    #[error("balance would overflow")]
    Overflow,
}

impl From<WalletError> for Problem {
    fn from(e: WalletError) -> Self {
        use WalletError::*;
        match e {
            InvalidAmount | NoteTooLong | SelfTransfer => Problem::invalid(e.to_string()),
            NoWallet | RecipientNotFound => Problem::not_found(e.to_string()),
            InsufficientFunds { .. } | Overflow => Problem::conflict(e.to_string()),
        }
    }
}

impl From<WalletError> for Failure {
    fn from(e: WalletError) -> Self {
        Failure::Rejected(e.into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct WalletView {
    pub balance_cents: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TransferView {
    pub id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub created_at: String,
}

/// Who receives a transfer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    Email(String),
    UserId(Uuid),
}

fn check_amount(amount: i64) -> Result<(), Problem> {
    if (1..=MAX_AMOUNT_CENTS).contains(&amount) {
        Ok(())
    } else {
        Err(WalletError::InvalidAmount.into())
    }
}

// ---- messages ----------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deposit {
    pub user_id: Uuid,
    pub amount_cents: i64,
}

impl crate::mom::Message for Deposit {
    type To = Wallets;
    const KIND: &'static str = "deposit";
    type Reply = WalletView;
    fn validate(&self) -> Result<(), Problem> {
        check_amount(self.amount_cents)
    }
}
impl Command for Deposit {}
impl crate::mom::Handles<Deposit> for Wallets {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    pub from_user_id: Uuid,
    pub to: Recipient,
    pub amount_cents: i64,
    pub note: Option<String>,
}

impl crate::mom::Message for Transfer {
    type To = Wallets;
    const KIND: &'static str = "transfer";
    type Reply = TransferView;
    fn validate(&self) -> Result<(), Problem> {
        check_amount(self.amount_cents)?;
        if self
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE)
        {
            return Err(WalletError::NoteTooLong.into());
        }
        if self.to == Recipient::UserId(self.from_user_id) {
            return Err(WalletError::SelfTransfer.into());
        }
        Ok(())
    }
}
impl Command for Transfer {}
impl crate::mom::Handles<Transfer> for Wallets {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetWallet {
    pub user_id: Uuid,
}

impl crate::mom::Message for GetWallet {
    type To = Wallets;
    const KIND: &'static str = "get_wallet";
    type Reply = WalletView;
}
impl Query for GetWallet {}
impl crate::mom::Handles<GetWallet> for Wallets {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListTransfers {
    pub user_id: Uuid,
    pub page: Page,
}

impl crate::mom::Message for ListTransfers {
    type To = Wallets;
    const KIND: &'static str = "list_transfers";
    type Reply = Paged<TransferView>;
}
impl Query for ListTransfers {}
impl crate::mom::Handles<ListTransfers> for Wallets {}

/// From `payments`: debit the buyer for an order (at most once per order).
/// Replies `payments::WalletDebited` or `payments::WalletDebitFailed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Debit {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
}

impl crate::mom::Message for Debit {
    type To = Wallets;
    const KIND: &'static str = "debit";
    type Reply = ();
}
impl Command for Debit {}
impl crate::mom::Handles<Debit> for Wallets {}

/// From `payments`: give an order's debit back (a refund; at most once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credit {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
}

impl crate::mom::Message for Credit {
    type To = Wallets;
    const KIND: &'static str = "credit";
    type Reply = ();
}
impl Command for Credit {}
impl crate::mom::Handles<Credit> for Wallets {}

// ---- events --------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferCompleted {
    pub transfer: TransferView,
    pub from_email: Option<String>,
    pub to_email: Option<String>,
}
impl Event for TransferCompleted {
    const TOPIC: &'static str = "wallet.transfer.completed";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepositCompleted {
    pub deposit_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub balance_cents: i64,
}
impl Event for DepositCompleted {
    const TOPIC: &'static str = "wallet.deposit.completed";
}

// ---- the actor -----------------------------------------------------------

#[derive(Debug, Default)]
pub struct Wallets;

impl crate::mom::Destination for Wallets {
    const NAME: &'static str = "wallets";
}

impl Service for Wallets {
    const SUBSCRIPTIONS: &'static [&'static str] = &[UserRegistered::TOPIC, UserDeleted::TOPIC];

    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = WalletStore(conn);
        match msg.kind {
            Deposit::KIND => {
                let cmd: Deposit = msg.decode()?;
                cmd.validate()?;
                let account = store
                    .open_account(cmd.user_id)?
                    .ok_or(WalletError::NoWallet)?;
                let balance = account
                    .balance_cents
                    .checked_add(cmd.amount_cents)
                    .ok_or(WalletError::Overflow)?;
                store.set_balance(cmd.user_id, balance)?;
                store.record_deposit(msg.id, cmd.user_id, cmd.amount_cents, msg.created_at)?;
                Ok(Effects::reply(&WalletView {
                    balance_cents: balance,
                    currency: CURRENCY.into(),
                })?
                .publish(&DepositCompleted {
                    deposit_id: msg.id,
                    user_id: cmd.user_id,
                    amount_cents: cmd.amount_cents,
                    balance_cents: balance,
                }))
            }
            Transfer::KIND => {
                let cmd: Transfer = msg.decode()?;
                cmd.validate()?;
                let from = store
                    .open_account(cmd.from_user_id)?
                    .ok_or(WalletError::NoWallet)?;
                let to = match &cmd.to {
                    Recipient::UserId(id) => store.open_account(*id)?,
                    Recipient::Email(e) => {
                        store.open_account_by_email(&super::users::normalize_email(e))?
                    }
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
                    id: msg.id,
                    from_user_id: from.user_id,
                    to_user_id: to.user_id,
                    amount_cents: cmd.amount_cents,
                    currency: CURRENCY.into(),
                    note: cmd.note.clone(),
                    created_at: crate::problem::rfc3339(msg.created_at),
                };
                store.record_transfer(&transfer, msg.created_at)?;
                Ok(Effects::reply(&transfer)?.publish(&TransferCompleted {
                    transfer: transfer.clone(),
                    from_email: from.email,
                    to_email: to.email,
                }))
            }
            Debit::KIND => {
                let cmd: Debit = msg.decode()?;
                let fx = Effects::reply(&())?;
                if let Some(p) = store.wallet_payment(cmd.order_id)? {
                    // A repeated debit answers like the first one.
                    return Ok(if p.state == store::REFUSED {
                        fx.send(&WalletDebitFailed {
                            order_id: cmd.order_id,
                            reason: p.reason.unwrap_or_else(|| "debit refused".into()),
                        })
                    } else {
                        fx.send(&WalletDebited {
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
                    msg.created_at,
                )?;
                tracing::info!(order = %cmd.order_id, user = %cmd.user_id, amount = cmd.amount_cents, state, "wallet debit");
                Ok(match refusal {
                    Some(reason) => fx.send(&WalletDebitFailed {
                        order_id: cmd.order_id,
                        reason,
                    }),
                    None => fx.send(&WalletDebited {
                        order_id: cmd.order_id,
                    }),
                })
            }
            Credit::KIND => {
                let cmd: Credit = msg.decode()?;
                // Only a debited order, once; the amount is the one debited.
                let Some(p) = store
                    .wallet_payment(cmd.order_id)?
                    .filter(|p| p.state == store::DEBITED)
                else {
                    return Effects::reply(&());
                };
                let user_id = Uuid::parse_str(&p.user_id).unwrap_or(cmd.user_id);
                let Some(balance) = store.any_account_balance(user_id)? else {
                    tracing::warn!(order = %cmd.order_id, user = %user_id, "credit for a missing account; ignored");
                    return Effects::reply(&());
                };
                let credited = balance
                    .checked_add(p.amount_cents)
                    .ok_or(WalletError::Overflow)?;
                store.set_balance(user_id, credited)?;
                store.set_wallet_payment_state(cmd.order_id, store::CREDITED, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, user = %user_id, amount = p.amount_cents, "wallet credit");
                Effects::reply(&())
            }
            GetWallet::KIND => {
                let q: GetWallet = msg.decode()?;
                let account = store
                    .open_account(q.user_id)?
                    .ok_or(WalletError::NoWallet)?;
                Effects::reply(&WalletView {
                    balance_cents: account.balance_cents,
                    currency: CURRENCY.into(),
                })
            }
            ListTransfers::KIND => {
                let q: ListTransfers = msg.decode()?;
                Effects::reply(&store.transfers(q.user_id, q.page)?)
            }
            UserRegistered::TOPIC => {
                let e: UserRegistered = msg.decode()?;
                store.open(e.user_id, &e.email, msg.created_at)?;
                Effects::reply(&())
            }
            UserDeleted::TOPIC => {
                let e: UserDeleted = msg.decode()?;
                store.close(e.user_id)?;
                Effects::reply(&())
            }
            other => Err(Problem::bad_request(format!("wallets does not handle `{other}`")).into()),
        }
    }
}
