//! What wallets handles and what it publishes.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{WalletError, Wallets};
use crate::problem::{Page, Paged, Problem};

pub const CURRENCY: &str = "USD";
/// Largest single deposit or transfer: one million dollars.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000;
pub const MAX_NOTE: usize = 500;

// ---- views ---------------------------------------------------------------------

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

// ---- commands and queries --------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deposit {
    pub user_id: Uuid,
    pub amount_cents: i64,
}

impl Deposit {
    fn check(&self) -> Result<(), Problem> {
        check_amount(self.amount_cents)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    pub from_user_id: Uuid,
    pub to: Recipient,
    pub amount_cents: i64,
    pub note: Option<String>,
}

impl Transfer {
    fn check(&self) -> Result<(), Problem> {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetWallet {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListTransfers {
    pub user_id: Uuid,
    pub page: Page,
}

/// From `payments`: debit the buyer for an order (at most once per order).
/// Answered by sending `payments::WalletDebited` or
/// `payments::WalletDebitFailed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Debit {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
}

/// From `payments`: give an order's debit back (a refund; at most once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credit {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
}

crate::messages! { to Wallets;
    command Deposit = "deposit" -> WalletView, check Deposit::check;
    command Transfer = "transfer" -> TransferView, check Transfer::check;
    command Debit = "debit" -> ();
    command Credit = "credit" -> ();
    query GetWallet = "get_wallet" -> WalletView;
    query ListTransfers = "list_transfers" -> Paged<TransferView>;
}

// ---- events ----------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferCompleted {
    pub transfer: TransferView,
    pub from_email: Option<String>,
    pub to_email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepositCompleted {
    pub deposit_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub balance_cents: i64,
}

crate::events! {
    TransferCompleted = "wallet.transfer.completed";
    DepositCompleted = "wallet.deposit.completed";
}
