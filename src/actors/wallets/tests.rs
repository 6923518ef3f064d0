//! Wallets' rules, delivered as the runtime delivers them.
use uuid::Uuid;

use super::*;
use crate::{
    actors::{
        payments::{WalletDebitFailed, WalletDebited},
        testkit::{published, sent, TestKit},
        users::{UserDeleted, UserRegistered},
    },
    auth::Role,
    problem::{Page, ProblemKind},
    store::migrations::WALLETS,
};

fn kit() -> (TestKit<Wallets>, Uuid, Uuid) {
    let mut t = TestKit::new(Wallets, WALLETS);
    let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, email) in [(ann, "ann@example.com"), (bob, "bob@example.com")] {
        t.event(&UserRegistered {
            user_id: id,
            email: email.into(),
            name: "x".into(),
            role: Role::Customer,
        });
    }
    (t, ann, bob)
}

fn balance(t: &mut TestKit<Wallets>, user_id: Uuid) -> i64 {
    t.ok(&GetWallet { user_id }).balance_cents
}

fn transfer(from: Uuid, to: Recipient, amount_cents: i64) -> Transfer {
    Transfer {
        from_user_id: from,
        to,
        amount_cents,
        note: None,
    }
}

#[test]
fn a_deposit_credits_the_wallet_and_publishes_it() {
    let (mut t, ann, _) = kit();
    let deposit = Deposit {
        user_id: ann,
        amount_cents: 2_500,
    };
    let (view, fx) = t.effects(&deposit);
    assert_eq!(view.balance_cents, 2_500);
    let e: DepositCompleted = published(&fx);
    assert_eq!((e.user_id, e.balance_cents), (ann, 2_500));
    assert_eq!(balance(&mut t, ann), 2_500);
}

#[test]
fn amounts_outside_the_range_are_refused_before_anything_changes() {
    let (mut t, ann, _) = kit();
    for amount_cents in [0, -1, MAX_AMOUNT_CENTS + 1] {
        let p = t.err(&Deposit {
            user_id: ann,
            amount_cents,
        });
        assert_eq!(p.code(), "wallet.invalid_amount");
        assert_eq!(p.kind, ProblemKind::Unprocessable);
    }
    assert_eq!(balance(&mut t, ann), 0);
}

#[test]
fn a_transfer_moves_money_by_email_and_never_overdraws() {
    let (mut t, ann, bob) = kit();
    t.ok(&Deposit {
        user_id: ann,
        amount_cents: 1_000,
    });
    let (view, fx) = t.effects(&transfer(
        ann,
        Recipient::Email("BOB@example.com".into()),
        400,
    ));
    assert_eq!((view.from_user_id, view.to_user_id), (ann, bob));
    let e: TransferCompleted = published(&fx);
    assert_eq!(e.to_email.as_deref(), Some("bob@example.com"));
    assert_eq!((balance(&mut t, ann), balance(&mut t, bob)), (600, 400));

    let p = t.err(&transfer(ann, Recipient::UserId(bob), 601));
    assert_eq!(p.code(), "wallet.insufficient_funds");
    assert_eq!(p.kind, ProblemKind::Conflict);
    assert_eq!((balance(&mut t, ann), balance(&mut t, bob)), (600, 400));
    let page = t.ok(&ListTransfers {
        user_id: bob,
        page: Page::new(None, None).unwrap(),
    });
    assert_eq!(page.total, 1);
}

#[test]
fn transfers_to_oneself_or_nobody_are_refused() {
    let (mut t, ann, _) = kit();
    t.ok(&Deposit {
        user_id: ann,
        amount_cents: 1_000,
    });
    let p = t.err(&transfer(ann, Recipient::UserId(ann), 1));
    assert_eq!(p.code(), "wallet.self_transfer");
    let p = t.err(&transfer(
        ann,
        Recipient::Email("ann@example.com".into()),
        1,
    ));
    assert_eq!(p.code(), "wallet.self_transfer");
    let p = t.err(&transfer(
        ann,
        Recipient::Email("nobody@example.com".into()),
        1,
    ));
    assert_eq!(p.code(), "wallet.recipient_not_found");
    assert_eq!(balance(&mut t, ann), 1_000);
}

#[test]
fn an_order_is_debited_once_and_credited_once() {
    let (mut t, ann, _) = kit();
    t.ok(&Deposit {
        user_id: ann,
        amount_cents: 1_000,
    });
    let order_id = Uuid::now_v7();
    let debit = Debit {
        order_id,
        user_id: ann,
        amount_cents: 300,
    };
    for _ in 0..2 {
        let (_, fx) = t.effects(&debit);
        assert_eq!(sent::<WalletDebited>(&fx).order_id, order_id);
        assert_eq!(balance(&mut t, ann), 700, "a repeated debit debits nothing");
    }
    let credit = Credit {
        order_id,
        user_id: ann,
        amount_cents: 300,
    };
    t.ok(&credit);
    t.ok(&credit);
    assert_eq!(
        balance(&mut t, ann),
        1_000,
        "a repeated credit credits nothing"
    );
}

#[test]
fn a_refused_debit_stays_refused_and_its_credit_does_nothing() {
    let (mut t, ann, _) = kit();
    let order_id = Uuid::now_v7();
    let debit = Debit {
        order_id,
        user_id: ann,
        amount_cents: 300,
    };
    let (_, fx) = t.effects(&debit);
    let failed: WalletDebitFailed = sent(&fx);
    assert!(
        failed.reason.contains("insufficient funds"),
        "{}",
        failed.reason
    );
    t.ok(&Deposit {
        user_id: ann,
        amount_cents: 1_000,
    });
    let (_, fx) = t.effects(&debit);
    sent::<WalletDebitFailed>(&fx);
    t.ok(&Credit {
        order_id,
        user_id: ann,
        amount_cents: 300,
    });
    assert_eq!(balance(&mut t, ann), 1_000);
}

#[test]
fn a_deleted_users_wallet_is_closed() {
    let (mut t, ann, _) = kit();
    t.event(&UserDeleted {
        user_id: ann,
        email: "ann@example.com".into(),
    });
    let p = t.err(&GetWallet { user_id: ann });
    assert_eq!(p.code(), "wallet.no_wallet");
    assert_eq!(p.kind, ProblemKind::NotFound);
}
