//! `wallets`: one account per user, deposits, transfers between users, and
//! wallet payments for orders.
//!
//! - **Owns** `wallets.db`: accounts (opened by `user.registered`, closed by
//!   `user.deleted`), deposits, transfers and `wallet_payments` (one row per
//!   order debited).
//! - **Consumes** `user.registered`, `user.deleted`; the commands `Debit` and
//!   `Credit` from `payments` (an order's wallet payment and its refund).
//! - **Publishes** `wallet.deposit.completed`, `wallet.transfer.completed`;
//!   answers `Debit` by sending `payments::WalletDebited` or
//!   `payments::WalletDebitFailed`.
//! - **Invariants**: a balance never goes negative; the sum of all balances
//!   is deposits − debits + credits; an order is debited at most once and
//!   credited at most once, and only after a debit; a transfer's id, a
//!   deposit's id and their rows derive from the envelope id, so a replay
//!   never applies one twice.
mod error;
mod handlers;
mod messages;
mod store;
#[cfg(test)]
mod tests;

pub use error::WalletError;
pub use messages::*;
pub use store::WalletStore;

use super::users::{UserDeleted, UserRegistered};

#[derive(Debug, Default)]
pub struct Wallets;

crate::dispatch! { Wallets = "wallets";
    commands {
        Deposit => deposit,
        Transfer => transfer,
        Debit => debit,
        Credit => credit,
    }
    queries {
        GetWallet => get_wallet,
        ListTransfers => list_transfers,
    }
    events {
        UserRegistered => user_registered,
        UserDeleted => user_deleted,
    }
}
