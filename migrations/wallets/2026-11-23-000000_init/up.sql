-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- One account per user, opened by user.registered; closed by user.deleted.
CREATE TABLE accounts (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT UNIQUE,
    balance_cents BIGINT NOT NULL CHECK (balance_cents >= 0),
    closed BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE transfers (
    id TEXT PRIMARY KEY NOT NULL,
    from_user_id TEXT NOT NULL,
    to_user_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    note TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX transfers_from ON transfers (from_user_id, created_at);
CREATE INDEX transfers_to ON transfers (to_user_id, created_at);
CREATE TABLE deposits (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    created_at BIGINT NOT NULL
);
