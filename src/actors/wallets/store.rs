//! `wallets.db`.
use diesel::prelude::*;
use uuid::Uuid;

use super::{TransferView, CURRENCY};
use crate::{
    problem::{now_ms, rfc3339, Page, Paged},
    store::schema::{accounts, deposits, transfers},
};

// Order payments debited from wallets (migration `..._payments`).
diesel::table! {
    wallet_payments (order_id) {
        order_id -> Text,
        user_id -> Text,
        amount_cents -> BigInt,
        state -> Text,
        reason -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

/// A wallet payment's states: `debited` → `credited` (refunded), or
/// `refused` (recorded so a repeated debit answers the same).
pub const DEBITED: &str = "debited";
pub const REFUSED: &str = "refused";
pub const CREDITED: &str = "credited";

/// An order's debit, as recorded.
#[derive(Debug, Queryable)]
pub struct WalletPayment {
    #[allow(dead_code)]
    pub order_id: String,
    pub user_id: String,
    pub amount_cents: i64,
    pub state: String,
    pub reason: Option<String>,
    #[allow(dead_code)]
    pub created_at: i64,
    #[allow(dead_code)]
    pub updated_at: i64,
}

#[derive(Debug, Queryable)]
pub struct Account {
    pub user_id_text: String,
    pub email: Option<String>,
    pub balance_cents: i64,
    pub closed: bool,
    #[allow(dead_code)]
    pub created_at: i64,
    #[allow(dead_code)]
    pub updated_at: i64,
}

/// An open account, parsed.
#[derive(Debug)]
pub struct OpenAccount {
    pub user_id: Uuid,
    pub email: Option<String>,
    pub balance_cents: i64,
}

fn open(a: Account) -> Option<OpenAccount> {
    (!a.closed).then(|| OpenAccount {
        user_id: Uuid::parse_str(&a.user_id_text).unwrap_or_default(),
        email: a.email,
        balance_cents: a.balance_cents,
    })
}

#[derive(Queryable)]
struct TransferRow {
    id: String,
    from_user_id: String,
    to_user_id: String,
    amount_cents: i64,
    note: Option<String>,
    created_at: i64,
}

pub struct WalletStore<'a>(pub &'a mut SqliteConnection);

impl WalletStore<'_> {
    pub fn open(&mut self, user_id: Uuid, email: &str, at: i64) -> QueryResult<()> {
        diesel::insert_into(accounts::table)
            .values((
                accounts::user_id.eq(user_id.to_string()),
                accounts::email.eq(email),
                accounts::balance_cents.eq(0),
                accounts::closed.eq(false),
                accounts::created_at.eq(at),
                accounts::updated_at.eq(at),
            ))
            .on_conflict_do_nothing()
            .execute(self.0)
            .map(|_| ())
    }

    /// Closes the account and frees its email (the money stays on it).
    pub fn close(&mut self, user_id: Uuid) -> QueryResult<()> {
        diesel::update(accounts::table.find(user_id.to_string()))
            .set((
                accounts::closed.eq(true),
                accounts::email.eq(None::<String>),
                accounts::updated_at.eq(now_ms()),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn open_account(&mut self, user_id: Uuid) -> QueryResult<Option<OpenAccount>> {
        Ok(accounts::table
            .find(user_id.to_string())
            .first::<Account>(self.0)
            .optional()?
            .and_then(open))
    }

    pub fn open_account_by_email(&mut self, email: &str) -> QueryResult<Option<OpenAccount>> {
        Ok(accounts::table
            .filter(accounts::email.eq(email))
            .first::<Account>(self.0)
            .optional()?
            .and_then(open))
    }

    pub fn set_balance(&mut self, user_id: Uuid, balance: i64) -> QueryResult<()> {
        diesel::update(accounts::table.find(user_id.to_string()))
            .set((
                accounts::balance_cents.eq(balance),
                accounts::updated_at.eq(now_ms()),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn record_deposit(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        amount: i64,
        at: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(deposits::table)
            .values((
                deposits::id.eq(id.to_string()),
                deposits::user_id.eq(user_id.to_string()),
                deposits::amount_cents.eq(amount),
                deposits::created_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn record_transfer(&mut self, t: &TransferView, at: i64) -> QueryResult<()> {
        diesel::insert_into(transfers::table)
            .values((
                transfers::id.eq(t.id.to_string()),
                transfers::from_user_id.eq(t.from_user_id.to_string()),
                transfers::to_user_id.eq(t.to_user_id.to_string()),
                transfers::amount_cents.eq(t.amount_cents),
                transfers::note.eq(&t.note),
                transfers::created_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// The user's transfers, both directions, newest first.
    pub fn transfers(&mut self, user_id: Uuid, page: Page) -> QueryResult<Paged<TransferView>> {
        let me = user_id.to_string();
        let mine = transfers::from_user_id
            .eq(me.clone())
            .or(transfers::to_user_id.eq(me));
        let total: i64 = transfers::table
            .filter(mine.clone())
            .count()
            .get_result(self.0)?;
        let rows: Vec<TransferRow> = transfers::table
            .filter(mine)
            .order((transfers::created_at.desc(), transfers::id.desc()))
            .offset(page.offset())
            .limit(page.limit())
            .load(self.0)?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(|r| TransferView {
                    id: Uuid::parse_str(&r.id).unwrap_or_default(),
                    from_user_id: Uuid::parse_str(&r.from_user_id).unwrap_or_default(),
                    to_user_id: Uuid::parse_str(&r.to_user_id).unwrap_or_default(),
                    amount_cents: r.amount_cents,
                    currency: CURRENCY.into(),
                    note: r.note,
                    created_at: rfc3339(r.created_at),
                })
                .collect(),
            page: page.page,
            page_size: page.page_size,
            total: total as u64,
        })
    }

    /// Any account's balance, closed ones included (a refund goes back to
    /// the account the money came from).
    pub fn any_account_balance(&mut self, user_id: Uuid) -> QueryResult<Option<i64>> {
        accounts::table
            .find(user_id.to_string())
            .select(accounts::balance_cents)
            .first(self.0)
            .optional()
    }

    pub fn wallet_payment(&mut self, order_id: Uuid) -> QueryResult<Option<WalletPayment>> {
        wallet_payments::table
            .find(order_id.to_string())
            .first(self.0)
            .optional()
    }

    pub fn record_wallet_payment(
        &mut self,
        order_id: Uuid,
        user_id: Uuid,
        amount: i64,
        state: &str,
        reason: Option<&str>,
        at: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(wallet_payments::table)
            .values((
                wallet_payments::order_id.eq(order_id.to_string()),
                wallet_payments::user_id.eq(user_id.to_string()),
                wallet_payments::amount_cents.eq(amount),
                wallet_payments::state.eq(state),
                wallet_payments::reason.eq(reason),
                wallet_payments::created_at.eq(at),
                wallet_payments::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn set_wallet_payment_state(
        &mut self,
        order_id: Uuid,
        state: &str,
        at: i64,
    ) -> QueryResult<()> {
        diesel::update(wallet_payments::table.find(order_id.to_string()))
            .set((
                wallet_payments::state.eq(state),
                wallet_payments::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }
}
