//! Why wallets refuses a message.
use super::messages::{MAX_AMOUNT_CENTS, MAX_NOTE};

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

crate::error_codes! { WalletError {
    InvalidAmount => Unprocessable "wallet.invalid_amount",
    NoteTooLong => Unprocessable "wallet.note_too_long",
    NoWallet => NotFound "wallet.no_wallet",
    RecipientNotFound => NotFound "wallet.recipient_not_found",
    SelfTransfer => Unprocessable "wallet.self_transfer",
    InsufficientFunds { .. } => Conflict "wallet.insufficient_funds",
    Overflow => Conflict "wallet.overflow",
} }
