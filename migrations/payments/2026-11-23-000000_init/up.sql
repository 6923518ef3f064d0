-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- One payment per order (idempotent per order_id).
CREATE TABLE payments (
    order_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency TEXT NOT NULL,
    -- card | wallet
    method TEXT NOT NULL CHECK (method IN ('card', 'wallet')),
    -- pending (wallet debit in flight) | captured | declined | refunded
    status TEXT NOT NULL CHECK (status IN ('pending', 'captured', 'declined', 'refunded')),
    card_last4 TEXT,
    card_fingerprint TEXT,
    failure_reason TEXT,
    -- a refund asked for while the wallet debit was still in flight
    refund_requested BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX payments_user ON payments (user_id, created_at);
