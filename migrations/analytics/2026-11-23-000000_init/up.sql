-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- Every order analytics has heard of, once: counted when confirmed, taken
-- out of every total when a confirmed order is cancelled. A cancellation
-- heard before its confirmation leaves a row with confirmed_at NULL, so the
-- late confirmation is not counted.
CREATE TABLE sales_orders (
    order_id TEXT PRIMARY KEY NOT NULL,
    confirmed_at BIGINT,
    -- UTC day of confirmed_at, YYYY-MM-DD.
    day TEXT,
    units BIGINT NOT NULL DEFAULT 0 CHECK (units >= 0),
    revenue_cents BIGINT NOT NULL DEFAULT 0 CHECK (revenue_cents >= 0),
    cancelled_at BIGINT
);
CREATE INDEX sales_orders_confirmed ON sales_orders (confirmed_at);
-- The lines of counted orders (a sku's lines merged), price snapshot included.
CREATE TABLE sales_lines (
    order_id TEXT NOT NULL REFERENCES sales_orders (order_id),
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    units BIGINT NOT NULL CHECK (units > 0),
    revenue_cents BIGINT NOT NULL CHECK (revenue_cents >= 0),
    PRIMARY KEY (order_id, sku)
);
-- Running totals from inventory.* events (all time).
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
