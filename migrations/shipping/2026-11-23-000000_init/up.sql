-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- One shipment per order (idempotent per order_id).
CREATE TABLE shipments (
    order_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL UNIQUE,
    -- created -> dispatched -> delivered, or created -> cancelled
    status TEXT NOT NULL CHECK (status IN ('created', 'dispatched', 'delivered', 'cancelled')),
    -- the shipping address, JSON
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX shipments_user ON shipments (user_id, created_at);
