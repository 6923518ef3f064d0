-- Order payments debited from wallets (from `payments`), one per order:
-- debited -> credited (a refund), or refused (no wallet, insufficient funds).
CREATE TABLE wallet_payments (
    order_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    state TEXT NOT NULL CHECK (state IN ('debited', 'refused', 'credited')),
    reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX wallet_payments_user ON wallet_payments (user_id, created_at);
