-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- Stock per sku. available = on_hand - reserved; sold counts units committed
-- to orders (or decreased outside the saga). Conserved:
-- on_hand + sold = initial + what admins added or removed by counting.
CREATE TABLE stock (
    sku TEXT PRIMARY KEY NOT NULL,
    on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    reorder_point BIGINT NOT NULL DEFAULT 5 CHECK (reorder_point >= 0),
    -- Set when inventory.low_stock was published for the current crossing,
    -- cleared when available rises above the reorder point again.
    low_alerted BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (reserved <= on_hand)
);
-- One row per (order, sku): the saga's commands move it
-- reserved → released | committed → restocked, each at most once.
CREATE TABLE reservations (
    order_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    state TEXT NOT NULL CHECK (state IN ('reserved', 'released', 'committed', 'restocked')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
-- The first answer to an order's Reserve, so a repeat (a second envelope
-- for the same order) answers the same, refusals included.
CREATE TABLE reserve_decisions (
    order_id TEXT PRIMARY KEY NOT NULL,
    reserved BOOLEAN NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL
);
-- `POST /inventory/{sku}/decrease`, applied at most once per (order_id, sku).
CREATE TABLE decreases (
    order_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
