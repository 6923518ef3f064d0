-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- An order and where its saga stands (status is the saga's state).
CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    total_cents BIGINT NOT NULL CHECK (total_cents > 0),
    currency TEXT NOT NULL,
    payment TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    failure_reason TEXT,
    carrier TEXT,
    tracking_number TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE INDEX orders_created ON orders (created_at);
