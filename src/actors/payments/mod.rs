//! `payments`: card payments (simulated network: Luhn, expiry, CVV checked
//! at the edge by [`tokenize`]; the test card `4000000000000002` is always
//! declined) and wallet payments (debited through `wallets`). One payment
//! per order, refunded on compensation. Publishes `payment.*`.
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    orders::{CardToken, PaymentFailed, PaymentMethod, PaymentSucceeded},
    wallets::{Credit, Debit, CURRENCY},
    Effects, Failure, Incoming, Service,
};
use crate::{
    mom::{Command, Event, Query},
    problem::Problem,
};
use store::{NewPayment, Payment, PaymentStore};

/// Always declined by the simulated card network.
pub const DECLINED_TEST_CARD: &str = "4000000000000002";

/// Validates a card (Luhn, MM/YY not expired, 3-4 digit CVV) and returns the
/// token that travels instead of it. Pure; both edges and `orders::place`
/// call it before anything is journaled.
pub fn tokenize(number: &str, expiry: &str, cvv: &str) -> Result<CardToken, Problem> {
    tokenize_at(number, expiry, cvv, crate::problem::now_ms())
}

/// [`tokenize`] as of `now_ms` (a handler passes its message's time).
pub fn tokenize_at(
    number: &str,
    expiry: &str,
    cvv: &str,
    now_ms: i64,
) -> Result<CardToken, Problem> {
    let digits: String = number.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid("card number must be 12 to 19 digits"));
    }
    if !luhn(&digits) {
        return Err(Problem::invalid("card number fails the Luhn check"));
    }
    let expiry: String = expiry.chars().filter(|c| !c.is_whitespace()).collect();
    let end = expiry_end_ms(&expiry).ok_or_else(|| Problem::invalid("expiry must be MM/YY"))?;
    if now_ms >= end {
        return Err(Problem::invalid(format!("card expired ({expiry})")));
    }
    if !(3..=4).contains(&cvv.len()) || !cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid("cvv must be 3 or 4 digits"));
    }
    Ok(CardToken {
        last4: digits[digits.len() - 4..].to_owned(),
        expiry,
        fingerprint: fingerprint(&digits),
    })
}

/// The Luhn checksum over ASCII digits.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// What the simulated network authorizes: the first 16 hex characters of
/// the SHA-256 of the card's digits.
fn fingerprint(digits: &str) -> String {
    use sha2::Digest as _;
    let mut hex = hex::encode(sha2::Sha256::digest(digits.as_bytes()));
    hex.truncate(16);
    hex
}

/// The end of an `MM/YY` expiry month (the first instant of the next month,
/// UTC, in ms), or `None` if it is not `MM/YY`.
fn expiry_end_ms(expiry: &str) -> Option<i64> {
    let (mm, yy) = expiry.split_once('/')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(mm) || !two_digits(yy) {
        return None;
    }
    let month: u32 = mm.parse().ok()?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let year = 2000 + yy.parse::<i32>().ok()?;
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Some(
        chrono::NaiveDate::from_ymd_opt(year, month, 1)?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp_millis(),
    )
}

/// Why the simulated network refuses `card` at `now_ms`, if it does.
fn card_refusal(card: &CardToken, now_ms: i64) -> Option<&'static str> {
    if card.fingerprint == fingerprint(DECLINED_TEST_CARD) {
        Some("card declined")
    } else if expiry_end_ms(&card.expiry).is_none_or(|end| now_ms >= end) {
        Some("card expired")
    } else {
        None
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PaymentView {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    /// "card" or "wallet"
    pub method: String,
    /// "pending" (a wallet debit in flight), "captured", "declined",
    /// "refunded"
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Result of `POST /payments/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CardCheck {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---- saga messages -------------------------------------------------------------

/// Charge an order once (idempotent per order). Replies
/// `orders::PaymentSucceeded` or `orders::PaymentFailed` — for wallet
/// payments after `wallets` answers `WalletDebited` / `WalletDebitFailed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub amount_cents: i64,
    pub method: PaymentMethod,
}
impl crate::mom::Message for Charge {
    type To = Payments;
    const KIND: &'static str = "charge";
    type Reply = ();
}
impl Command for Charge {}
impl crate::mom::Handles<Charge> for Payments {}

/// Refund an order's captured payment (no-op if none or already refunded).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: Uuid,
}
impl crate::mom::Message for Refund {
    type To = Payments;
    const KIND: &'static str = "refund";
    type Reply = ();
}
impl Command for Refund {}
impl crate::mom::Handles<Refund> for Payments {}

/// From `wallets`: the debit for `order_id` went through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletDebited {
    pub order_id: Uuid,
}
impl crate::mom::Message for WalletDebited {
    type To = Payments;
    const KIND: &'static str = "wallet_debited";
    type Reply = ();
}
impl Command for WalletDebited {}
impl crate::mom::Handles<WalletDebited> for Payments {}

/// From `wallets`: the debit for `order_id` was refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletDebitFailed {
    pub order_id: Uuid,
    pub reason: String,
}
impl crate::mom::Message for WalletDebitFailed {
    type To = Payments;
    const KIND: &'static str = "wallet_debit_failed";
    type Reply = ();
}
impl Command for WalletDebitFailed {}
impl crate::mom::Handles<WalletDebitFailed> for Payments {}

// ---- edge queries ------------------------------------------------------------------

/// Checks a card without charging it. (Not journaled: a query.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateCard {
    pub number: String,
    pub expiry: String,
    pub cvv: String,
}
impl crate::mom::Message for ValidateCard {
    type To = Payments;
    const KIND: &'static str = "validate_card";
    type Reply = CardCheck;
}
impl Query for ValidateCard {}
impl crate::mom::Handles<ValidateCard> for Payments {}

/// The payment of an order (owner or admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetPayment {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub admin: bool,
}
impl crate::mom::Message for GetPayment {
    type To = Payments;
    const KIND: &'static str = "get_payment";
    type Reply = PaymentView;
}
impl Query for GetPayment {}
impl crate::mom::Handles<GetPayment> for Payments {}

// ---- events ----------------------------------------------------------------------------

/// `payment.captured`, `payment.declined` and `payment.refunded` share one payload.
pub const PAYMENT_CAPTURED: &str = "payment.captured";
pub const PAYMENT_DECLINED: &str = "payment.declined";
pub const PAYMENT_REFUNDED: &str = "payment.refunded";

/// An event type per topic, so `Effects::publish` can name it.
macro_rules! payment_event {
    ($name:ident, $topic:expr) => {
        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub struct $name(pub PaymentView);
        impl Event for $name {
            const TOPIC: &'static str = $topic;
        }
    };
}
payment_event!(PaymentCaptured, PAYMENT_CAPTURED);
payment_event!(PaymentDeclined, PAYMENT_DECLINED);
payment_event!(PaymentRefunded, PAYMENT_REFUNDED);

#[derive(Debug, Default)]
pub struct Payments;

impl Payments {
    /// The saga's answer for a payment as it stands (a repeated `Charge`
    /// answers like the first one; a pending wallet payment asks the wallet
    /// again, which answers idempotently).
    fn answer(p: &Payment) -> Result<Effects, Failure> {
        let order_id = p.order();
        let fx = Effects::reply(&())?;
        Ok(match (p.status.as_str(), &p.failure_reason) {
            (store::PENDING, _) => fx.send(&Debit {
                order_id,
                user_id: p.user(),
                amount_cents: p.amount_cents,
            }),
            (store::CAPTURED, _) | (store::REFUNDED, None) => {
                fx.send(&PaymentSucceeded { order_id })
            }
            (_, reason) => fx.send(&PaymentFailed {
                order_id,
                reason: reason.clone().unwrap_or_else(|| "payment declined".into()),
            }),
        })
    }

    fn charge(store: &mut PaymentStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: Charge = msg.decode()?;
        if let Some(p) = store.get(cmd.order_id)? {
            tracing::info!(order = %cmd.order_id, status = %p.status, "repeated charge answered from the record");
            return Self::answer(&p);
        }
        if cmd.amount_cents < 0 {
            // Nothing to record: the same command always answers the same.
            return Ok(Effects::reply(&())?.send(&PaymentFailed {
                order_id: cmd.order_id,
                reason: "invalid amount".into(),
            }));
        }
        let mut new = NewPayment {
            order_id: cmd.order_id,
            user_id: cmd.user_id,
            amount_cents: cmd.amount_cents,
            currency: CURRENCY,
            method: cmd.method.name(),
            status: store::PENDING,
            card_last4: None,
            card_fingerprint: None,
            failure_reason: None,
            at: msg.created_at,
        };
        match &cmd.method {
            PaymentMethod::Card { card } => {
                let refusal = card_refusal(card, msg.created_at);
                new.card_last4 = Some(&card.last4);
                new.card_fingerprint = Some(&card.fingerprint);
                new.status = if refusal.is_some() {
                    store::DECLINED
                } else {
                    store::CAPTURED
                };
                new.failure_reason = refusal;
                let p = store.insert(&new)?;
                tracing::info!(order = %cmd.order_id, status = %p.status, amount = p.amount_cents, "card payment");
                let fx = Self::answer(&p)?;
                Ok(match refusal {
                    Some(_) => fx.publish(&PaymentDeclined(p.view())),
                    None => fx.publish(&PaymentCaptured(p.view())),
                })
            }
            PaymentMethod::Wallet => {
                let p = store.insert(&new)?;
                tracing::info!(order = %cmd.order_id, amount = p.amount_cents, "wallet payment pending");
                Self::answer(&p)
            }
        }
    }

    fn wallet_debited(
        store: &mut PaymentStore<'_>,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let cmd: WalletDebited = msg.decode()?;
        let Some(p) = store.get(cmd.order_id)? else {
            tracing::warn!(order = %cmd.order_id, "wallet debited for an unknown payment");
            return Effects::reply(&());
        };
        match p.status.as_str() {
            store::PENDING if p.refund_requested => {
                // Cancelled while the debit was in flight: give it back.
                let p = store.set_status(
                    cmd.order_id,
                    store::REFUNDED,
                    Some("refunded before capture"),
                    msg.created_at,
                )?;
                tracing::info!(order = %cmd.order_id, "wallet payment refunded before capture");
                Ok(Self::answer(&p)?
                    .publish(&PaymentRefunded(p.view()))
                    .send(&Credit {
                        order_id: cmd.order_id,
                        user_id: p.user(),
                        amount_cents: p.amount_cents,
                    }))
            }
            store::PENDING => {
                let p = store.set_status(cmd.order_id, store::CAPTURED, None, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, "wallet payment captured");
                Ok(Self::answer(&p)?.publish(&PaymentCaptured(p.view())))
            }
            // The answer to a repeated debit: answer the repeated charge.
            store::CAPTURED | store::REFUNDED => Self::answer(&p),
            other => {
                tracing::warn!(order = %cmd.order_id, status = other, "wallet debited for a settled payment; ignored");
                Effects::reply(&())
            }
        }
    }

    fn wallet_debit_failed(
        store: &mut PaymentStore<'_>,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let cmd: WalletDebitFailed = msg.decode()?;
        let Some(p) = store.get(cmd.order_id)? else {
            tracing::warn!(order = %cmd.order_id, "wallet debit failed for an unknown payment");
            return Effects::reply(&());
        };
        match p.status.as_str() {
            store::PENDING => {
                let p = store.set_status(
                    cmd.order_id,
                    store::DECLINED,
                    Some(&cmd.reason),
                    msg.created_at,
                )?;
                tracing::info!(order = %cmd.order_id, reason = %cmd.reason, "wallet payment declined");
                Ok(Self::answer(&p)?.publish(&PaymentDeclined(p.view())))
            }
            store::DECLINED => Self::answer(&p),
            other => {
                tracing::warn!(order = %cmd.order_id, status = other, "wallet debit failed for a settled payment; ignored");
                Effects::reply(&())
            }
        }
    }

    fn refund(store: &mut PaymentStore<'_>, msg: &Incoming<'_>) -> Result<Effects, Failure> {
        let cmd: Refund = msg.decode()?;
        let Some(p) = store.get(cmd.order_id)? else {
            return Effects::reply(&());
        };
        match p.status.as_str() {
            store::CAPTURED => {
                let p = store.set_status(cmd.order_id, store::REFUNDED, None, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, method = %p.method, "payment refunded");
                let fx = Effects::reply(&())?.publish(&PaymentRefunded(p.view()));
                Ok(if p.method == PaymentMethod::Wallet.name() {
                    fx.send(&Credit {
                        order_id: cmd.order_id,
                        user_id: p.user(),
                        amount_cents: p.amount_cents,
                    })
                } else {
                    fx
                })
            }
            store::PENDING => {
                store.request_refund(cmd.order_id, msg.created_at)?;
                tracing::info!(order = %cmd.order_id, "refund requested while the debit is in flight");
                Effects::reply(&())
            }
            _ => Effects::reply(&()),
        }
    }
}

impl crate::mom::Destination for Payments {
    const NAME: &'static str = "payments";
}

impl Service for Payments {
    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = PaymentStore(conn);
        match msg.kind {
            Charge::KIND => Self::charge(&mut store, msg),
            WalletDebited::KIND => Self::wallet_debited(&mut store, msg),
            WalletDebitFailed::KIND => Self::wallet_debit_failed(&mut store, msg),
            Refund::KIND => Self::refund(&mut store, msg),
            ValidateCard::KIND => {
                let q: ValidateCard = msg.decode()?;
                Effects::reply(
                    &match tokenize_at(&q.number, &q.expiry, &q.cvv, msg.created_at) {
                        Ok(token) => CardCheck {
                            valid: true,
                            last4: Some(token.last4),
                            reason: None,
                        },
                        Err(p) => CardCheck {
                            valid: false,
                            last4: None,
                            reason: Some(p.detail),
                        },
                    },
                )
            }
            GetPayment::KIND => {
                let q: GetPayment = msg.decode()?;
                let p = store
                    .get(q.order_id)?
                    .filter(|p| q.admin || p.user() == q.user_id)
                    .ok_or_else(|| {
                        Problem::not_found(format!("no payment for order {}", q.order_id))
                    })?;
                Effects::reply(&p.view())
            }
            other => {
                Err(Problem::bad_request(format!("payments does not handle `{other}`")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::{prelude::*, SqliteConnection};
    use serde::de::DeserializeOwned;
    use uuid::Uuid;

    use super::*;
    use crate::{
        actors::{
            users::UserRegistered,
            wallets::{Deposit, GetWallet, WalletView, Wallets},
        },
        mom::envelope::Dispatch,
        store::{self, Conn},
    };

    /// 2026-11-23T12:00:00Z
    const NOW: i64 = 1_795_435_200_000;
    const VISA: &str = "4242424242424242";

    fn db(migrations: diesel_migrations::EmbeddedMigrations) -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().unwrap();
        let pool = store::open(&dir.path().join("test.db"), migrations, 1).unwrap();
        let conn = pool.get().unwrap();
        (dir, conn)
    }

    fn run<S: Service>(
        svc: &mut S,
        conn: &mut SqliteConnection,
        id: Uuid,
        kind: &str,
        payload: &str,
    ) -> Result<Effects, Failure> {
        svc.handle(
            conn,
            &Incoming {
                id,
                kind,
                payload,
                created_at: NOW,
            },
        )
    }

    fn exec<S: Service, C: Command>(svc: &mut S, conn: &mut SqliteConnection, cmd: &C) -> Effects {
        let payload = serde_json::to_string(cmd).unwrap();
        run(svc, conn, Uuid::now_v7(), C::KIND, &payload).expect("handled")
    }

    fn ask<S: Service, Q: Query>(
        svc: &mut S,
        conn: &mut SqliteConnection,
        q: &Q,
    ) -> Result<Q::Reply, Failure> {
        let payload = serde_json::to_string(q).unwrap();
        let fx = run(svc, conn, Uuid::nil(), Q::KIND, &payload)?;
        Ok(serde_json::from_value(fx.reply).unwrap())
    }

    /// Delivers a sent command to `svc`, as the MOM would.
    fn deliver<S: Service>(svc: &mut S, conn: &mut SqliteConnection, d: &Dispatch) -> Effects {
        assert_eq!(d.destination, S::NAME);
        run(svc, conn, Uuid::now_v7(), &d.kind, &d.payload).expect("handled")
    }

    /// The one command `fx` sends, decoded as `C`.
    fn sent<C: Command + DeserializeOwned>(fx: &Effects) -> C {
        assert_eq!(fx.send.len(), 1, "{:?}", fx.send);
        assert_eq!(fx.send[0].kind, C::KIND, "{:?}", fx.send);
        assert_eq!(
            fx.send[0].destination,
            <C::To as crate::mom::Destination>::NAME
        );
        serde_json::from_str(&fx.send[0].payload).unwrap()
    }

    fn topics(fx: &Effects) -> Vec<&str> {
        fx.publish.iter().map(|p| p.topic.as_str()).collect()
    }

    fn card(number: &str) -> PaymentMethod {
        PaymentMethod::Card {
            card: tokenize_at(number, "12/30", "123", NOW).unwrap(),
        }
    }

    fn charge(order_id: Uuid, user_id: Uuid, amount: i64, method: PaymentMethod) -> Charge {
        Charge {
            order_id,
            user_id,
            amount_cents: amount,
            method,
        }
    }

    fn payment(conn: &mut SqliteConnection, order_id: Uuid) -> PaymentView {
        ask(
            &mut Payments,
            conn,
            &GetPayment {
                order_id,
                user_id: Uuid::nil(),
                admin: true,
            },
        )
        .unwrap()
    }

    #[test]
    fn tokenize_checks_number_luhn_expiry_and_cvv() {
        let t = tokenize_at("4242 4242-4242 4242", "12/30", "123", NOW).unwrap();
        assert_eq!(t.last4, "4242");
        assert_eq!(t.expiry, "12/30");
        assert_eq!(t.fingerprint.len(), 16);
        assert!(t.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(t, tokenize_at(VISA, "12/30", "1234", NOW).unwrap());
        assert_ne!(
            t.fingerprint,
            tokenize_at("5555555555554444", "12/30", "123", NOW)
                .unwrap()
                .fingerprint
        );
        // The declined test card is a valid card.
        assert!(tokenize_at(DECLINED_TEST_CARD, "01/27", "999", NOW).is_ok());

        let reason = |n: &str, e: &str, c: &str| tokenize_at(n, e, c, NOW).unwrap_err();
        let p = reason("4242424242424241", "12/30", "123");
        assert_eq!(p.kind, crate::problem::ProblemKind::Unprocessable);
        assert!(p.detail.contains("Luhn"), "{p:?}");
        assert!(reason("42424242424", "12/30", "123")
            .detail
            .contains("12 to 19"));
        assert!(reason("42424242424242424242", "12/30", "123")
            .detail
            .contains("12 to 19"));
        assert!(reason("4242x42424242424", "12/30", "123")
            .detail
            .contains("digits"));
        assert!(reason("", "12/30", "123").detail.contains("digits"));
        for bad in ["13/30", "00/30", "1/30", "12/2030", "1230", "ab/cd", ""] {
            assert!(
                reason(VISA, bad, "123").detail.contains("MM/YY"),
                "expiry {bad:?}"
            );
        }
        assert!(reason(VISA, "10/26", "123").detail.contains("expired"));
        // Valid through the end of the expiry month (UTC).
        assert!(tokenize_at(VISA, "11/26", "123", NOW).is_ok());
        let dec_first = 1_796_083_200_000; // 2026-12-01T00:00:00Z
        assert!(tokenize_at(VISA, "11/26", "123", dec_first - 1).is_ok());
        assert!(tokenize_at(VISA, "11/26", "123", dec_first).is_err());
        for bad in ["12", "12345", "12a", ""] {
            assert!(reason(VISA, "12/30", bad).detail.contains("cvv"), "{bad:?}");
        }
    }

    #[test]
    fn validate_card_answers_valid_or_the_reason() {
        let (_d, mut conn) = db(store::migrations::PAYMENTS);
        let check = |conn: &mut SqliteConnection, number: &str| {
            ask(
                &mut Payments,
                conn,
                &ValidateCard {
                    number: number.into(),
                    expiry: "12/30".into(),
                    cvv: "123".into(),
                },
            )
            .unwrap()
        };
        assert_eq!(
            check(&mut conn, VISA),
            CardCheck {
                valid: true,
                last4: Some("4242".into()),
                reason: None
            }
        );
        let bad = check(&mut conn, "4242424242424241");
        assert!(!bad.valid);
        assert_eq!(bad.last4, None);
        assert!(bad.reason.unwrap().contains("Luhn"));
    }

    #[test]
    fn a_card_charge_is_captured_once_and_repeats_answer_the_same() {
        let (_d, mut conn) = db(store::migrations::PAYMENTS);
        let (order, user) = (Uuid::now_v7(), Uuid::now_v7());
        let cmd = charge(order, user, 4_599, card(VISA));
        let fx = exec(&mut Payments, &mut conn, &cmd);
        assert_eq!(sent::<PaymentSucceeded>(&fx).order_id, order);
        assert_eq!(topics(&fx), [PAYMENT_CAPTURED]);
        let p = payment(&mut conn, order);
        assert_eq!(p.status, "captured");
        assert_eq!(p.method, "card");
        assert_eq!(p.amount_cents, 4_599);
        assert_eq!(p.currency, "USD");
        assert_eq!(p.card_last4.as_deref(), Some("4242"));
        assert_eq!(p.user_id, user);

        // Same order again (a new envelope): same answer, nothing new.
        let again = exec(&mut Payments, &mut conn, &cmd);
        assert_eq!(sent::<PaymentSucceeded>(&again).order_id, order);
        assert!(again.publish.is_empty());
        assert_eq!(payment(&mut conn, order), p);

        // Owner or admin only.
        let q = |user_id, admin| GetPayment {
            order_id: order,
            user_id,
            admin,
        };
        assert_eq!(ask(&mut Payments, &mut conn, &q(user, false)).unwrap(), p);
        let err = ask(&mut Payments, &mut conn, &q(Uuid::now_v7(), false)).unwrap_err();
        assert!(
            matches!(err, Failure::Rejected(ref pr) if pr.kind == crate::problem::ProblemKind::NotFound)
        );
        let err = ask(
            &mut Payments,
            &mut conn,
            &GetPayment {
                order_id: Uuid::now_v7(),
                user_id: user,
                admin: true,
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, Failure::Rejected(ref pr) if pr.kind == crate::problem::ProblemKind::NotFound)
        );
    }

    #[test]
    fn the_declined_test_card_is_declined_and_stays_declined() {
        let (_d, mut conn) = db(store::migrations::PAYMENTS);
        let order = Uuid::now_v7();
        let cmd = charge(order, Uuid::now_v7(), 1_000, card(DECLINED_TEST_CARD));
        let fx = exec(&mut Payments, &mut conn, &cmd);
        let failed: PaymentFailed = sent(&fx);
        assert_eq!(failed.order_id, order);
        assert_eq!(failed.reason, "card declined");
        assert_eq!(topics(&fx), [PAYMENT_DECLINED]);
        let p = payment(&mut conn, order);
        assert_eq!(p.status, "declined");
        assert_eq!(p.failure_reason.as_deref(), Some("card declined"));

        let again = exec(&mut Payments, &mut conn, &cmd);
        assert_eq!(sent::<PaymentFailed>(&again).reason, "card declined");
        assert!(again.publish.is_empty());

        // Nothing to refund.
        let fx = exec(&mut Payments, &mut conn, &Refund { order_id: order });
        assert!(fx.send.is_empty() && fx.publish.is_empty());
        assert_eq!(payment(&mut conn, order).status, "declined");
    }

    #[test]
    fn a_card_refund_happens_once() {
        let (_d, mut conn) = db(store::migrations::PAYMENTS);
        let order = Uuid::now_v7();
        exec(
            &mut Payments,
            &mut conn,
            &charge(order, Uuid::now_v7(), 700, card(VISA)),
        );
        let fx = exec(&mut Payments, &mut conn, &Refund { order_id: order });
        assert_eq!(topics(&fx), [PAYMENT_REFUNDED]);
        assert!(fx.send.is_empty(), "a card refund sends nothing");
        assert_eq!(payment(&mut conn, order).status, "refunded");
        let again = exec(&mut Payments, &mut conn, &Refund { order_id: order });
        assert!(again.publish.is_empty() && again.send.is_empty());
        // An unknown order: a no-op.
        let fx = exec(
            &mut Payments,
            &mut conn,
            &Refund {
                order_id: Uuid::now_v7(),
            },
        );
        assert!(fx.publish.is_empty() && fx.send.is_empty());
    }

    #[test]
    fn replaying_the_same_envelope_gives_the_same_effects() {
        // The runtime answers a replay from the inbox; the logic alone must
        // still be deterministic given the message.
        let cmd = charge(Uuid::now_v7(), Uuid::now_v7(), 100, card(VISA));
        let payload = serde_json::to_string(&cmd).unwrap();
        let id = Uuid::now_v7();
        let mut outs = Vec::new();
        for _ in 0..2 {
            let (_d, mut conn) = db(store::migrations::PAYMENTS);
            let fx = run(&mut Payments, &mut conn, id, Charge::KIND, &payload).unwrap();
            outs.push(serde_json::to_string(&fx.into_outcome()).unwrap());
        }
        assert_eq!(outs[0], outs[1]);
    }

    // ---- wallet payments: payments ↔ wallets ----------------------------------

    struct Bank {
        _p: tempfile::TempDir,
        pay: Conn,
        _w: tempfile::TempDir,
        wal: Conn,
        deposits: i64,
    }

    impl Bank {
        fn new() -> Self {
            let (_p, pay) = db(store::migrations::PAYMENTS);
            let (_w, wal) = db(store::migrations::WALLETS);
            Bank {
                _p,
                pay,
                _w,
                wal,
                deposits: 0,
            }
        }

        fn customer(&mut self, cents: i64) -> Uuid {
            let user_id = Uuid::now_v7();
            let e = UserRegistered {
                user_id,
                email: format!("{user_id}@example.com"),
                name: "T".into(),
                role: crate::auth::Role::Customer,
            };
            let payload = serde_json::to_string(&e).unwrap();
            run(
                &mut Wallets,
                &mut self.wal,
                Uuid::now_v7(),
                UserRegistered::TOPIC,
                &payload,
            )
            .unwrap();
            if cents > 0 {
                exec(
                    &mut Wallets,
                    &mut self.wal,
                    &Deposit {
                        user_id,
                        amount_cents: cents,
                    },
                );
                self.deposits += cents;
            }
            user_id
        }

        fn balance(&mut self, user_id: Uuid) -> i64 {
            let w: WalletView = ask(&mut Wallets, &mut self.wal, &GetWallet { user_id }).unwrap();
            w.balance_cents
        }

        fn pay(&mut self, cmd: &impl Command) -> Effects {
            exec(&mut Payments, &mut self.pay, cmd)
        }

        /// Delivers what payments sent to wallets; returns wallets' effects.
        fn deliver_to_wallets(&mut self, fx: &Effects) -> Effects {
            assert_eq!(fx.send.len(), 1, "{:?}", fx.send);
            deliver(&mut Wallets, &mut self.wal, &fx.send[0])
        }

        /// Delivers wallets' answer to payments; returns payments' effects.
        fn deliver_to_payments(&mut self, fx: &Effects) -> Effects {
            assert_eq!(fx.send.len(), 1, "{:?}", fx.send);
            deliver(&mut Payments, &mut self.pay, &fx.send[0])
        }

        /// Sum of balances == deposits - debits + credits.
        fn assert_conserved(&mut self) {
            use crate::store::schema::accounts;
            let balances: Vec<i64> = accounts::table
                .select(accounts::balance_cents)
                .load(&mut *self.wal)
                .unwrap();
            let rows: Vec<(i64, String)> =
                diesel::sql_query("SELECT amount_cents, state FROM wallet_payments")
                    .load::<Moved>(&mut *self.wal)
                    .unwrap()
                    .into_iter()
                    .map(|m| (m.amount_cents, m.state))
                    .collect();
            let debits: i64 = rows
                .iter()
                .filter(|(_, s)| s != "refused")
                .map(|(a, _)| a)
                .sum();
            let credits: i64 = rows
                .iter()
                .filter(|(_, s)| s == "credited")
                .map(|(a, _)| a)
                .sum();
            assert_eq!(
                balances.iter().sum::<i64>(),
                self.deposits - debits + credits
            );
        }
    }

    #[derive(QueryableByName)]
    struct Moved {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        amount_cents: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
    }

    #[test]
    fn a_wallet_payment_is_pending_until_the_wallet_debits_then_refunds_once() {
        let mut b = Bank::new();
        let ann = b.customer(10_000);
        let order = Uuid::now_v7();
        let cmd = charge(order, ann, 2_500, PaymentMethod::Wallet);

        let fx = b.pay(&cmd);
        let debit: Debit = sent(&fx);
        assert_eq!(
            (debit.order_id, debit.user_id, debit.amount_cents),
            (order, ann, 2_500)
        );
        assert!(fx.publish.is_empty());
        assert_eq!(payment(&mut b.pay, order).status, "pending");

        let wfx = b.deliver_to_wallets(&fx);
        assert_eq!(sent::<WalletDebited>(&wfx).order_id, order);
        assert_eq!(b.balance(ann), 7_500);
        b.assert_conserved();

        let pfx = b.deliver_to_payments(&wfx);
        assert_eq!(sent::<PaymentSucceeded>(&pfx).order_id, order);
        assert_eq!(topics(&pfx), [PAYMENT_CAPTURED]);
        assert_eq!(payment(&mut b.pay, order).status, "captured");

        // A repeated debit (a new envelope) answers the same and moves nothing.
        let again = b.deliver_to_wallets(&fx);
        assert_eq!(sent::<WalletDebited>(&again).order_id, order);
        assert_eq!(b.balance(ann), 7_500);
        // ... and the repeated answer answers the saga the same, once more.
        let pagain = b.deliver_to_payments(&again);
        assert_eq!(sent::<PaymentSucceeded>(&pagain).order_id, order);
        assert!(pagain.publish.is_empty());

        // Refund: the money goes back through a credit, once.
        let rfx = b.pay(&Refund { order_id: order });
        assert_eq!(topics(&rfx), [PAYMENT_REFUNDED]);
        let credit: Credit = sent(&rfx);
        assert_eq!(
            (credit.order_id, credit.user_id, credit.amount_cents),
            (order, ann, 2_500)
        );
        assert_eq!(payment(&mut b.pay, order).status, "refunded");
        b.deliver_to_wallets(&rfx);
        assert_eq!(b.balance(ann), 10_000);
        b.assert_conserved();
        b.deliver_to_wallets(&rfx);
        assert_eq!(b.balance(ann), 10_000, "a credit applies once");
        let none = b.pay(&Refund { order_id: order });
        assert!(none.send.is_empty() && none.publish.is_empty());
        b.assert_conserved();

        // A credit for an order never debited does nothing.
        exec(
            &mut Wallets,
            &mut b.wal,
            &Credit {
                order_id: Uuid::now_v7(),
                user_id: ann,
                amount_cents: 1_000_000,
            },
        );
        assert_eq!(b.balance(ann), 10_000);
        b.assert_conserved();
    }

    #[test]
    fn insufficient_funds_or_no_wallet_decline_and_repeat_the_same() {
        let mut b = Bank::new();
        let bob = b.customer(100);
        let order = Uuid::now_v7();
        let fx = b.pay(&charge(order, bob, 500, PaymentMethod::Wallet));
        let wfx = b.deliver_to_wallets(&fx);
        let refused: WalletDebitFailed = sent(&wfx);
        assert!(
            refused.reason.starts_with("insufficient funds"),
            "{refused:?}"
        );
        assert_eq!(b.balance(bob), 100);

        let pfx = b.deliver_to_payments(&wfx);
        let failed: PaymentFailed = sent(&pfx);
        assert_eq!(failed.reason, refused.reason);
        assert_eq!(topics(&pfx), [PAYMENT_DECLINED]);
        let p = payment(&mut b.pay, order);
        assert_eq!(p.status, "declined");
        assert_eq!(p.failure_reason, Some(refused.reason.clone()));

        // Money arriving later does not change the recorded answer.
        exec(
            &mut Wallets,
            &mut b.wal,
            &Deposit {
                user_id: bob,
                amount_cents: 1_000,
            },
        );
        b.deposits += 1_000;
        let again = b.deliver_to_wallets(&fx);
        assert_eq!(sent::<WalletDebitFailed>(&again).reason, refused.reason);
        assert_eq!(b.balance(bob), 1_100);
        // A repeated charge answers from the record.
        let pagain = b.pay(&charge(order, bob, 500, PaymentMethod::Wallet));
        assert_eq!(sent::<PaymentFailed>(&pagain).reason, refused.reason);
        b.assert_conserved();

        // No wallet at all.
        let order = Uuid::now_v7();
        let fx = b.pay(&charge(order, Uuid::now_v7(), 1, PaymentMethod::Wallet));
        let wfx = b.deliver_to_wallets(&fx);
        assert_eq!(sent::<WalletDebitFailed>(&wfx).reason, "no open wallet");
        b.deliver_to_payments(&wfx);
        assert_eq!(payment(&mut b.pay, order).status, "declined");
        b.assert_conserved();
    }

    #[test]
    fn a_refund_while_the_debit_is_in_flight_gives_the_money_back() {
        let mut b = Bank::new();
        let cy = b.customer(5_000);
        let order = Uuid::now_v7();
        let fx = b.pay(&charge(order, cy, 3_000, PaymentMethod::Wallet));
        let none = b.pay(&Refund { order_id: order });
        assert!(none.send.is_empty() && none.publish.is_empty());
        let wfx = b.deliver_to_wallets(&fx);
        assert_eq!(b.balance(cy), 2_000);
        let pfx = b.deliver_to_payments(&wfx);
        assert_eq!(topics(&pfx), [PAYMENT_REFUNDED]);
        assert_eq!(pfx.send.len(), 2, "{:?}", pfx.send);
        assert_eq!(pfx.send[0].kind, PaymentFailed::KIND);
        assert_eq!(pfx.send[1].kind, Credit::KIND);
        deliver(&mut Wallets, &mut b.wal, &pfx.send[1]);
        assert_eq!(b.balance(cy), 5_000);
        assert_eq!(payment(&mut b.pay, order).status, "refunded");
        b.assert_conserved();
    }

    #[test]
    fn many_payments_conserve_money() {
        let mut b = Bank::new();
        let users: Vec<Uuid> = (0..3).map(|i| b.customer(1_000 * (i + 1))).collect();
        for round in 0..12_i64 {
            let user = users[(round % 3) as usize];
            let order = Uuid::now_v7();
            let fx = b.pay(&charge(
                order,
                user,
                300 + round * 50,
                PaymentMethod::Wallet,
            ));
            let wfx = b.deliver_to_wallets(&fx);
            b.deliver_to_payments(&wfx);
            if round % 4 == 0 {
                let rfx = b.pay(&Refund { order_id: order });
                if !rfx.send.is_empty() {
                    b.deliver_to_wallets(&rfx);
                }
            }
            b.assert_conserved();
            assert!(users.iter().all(|u| b.balance(*u) >= 0));
        }
    }
}
