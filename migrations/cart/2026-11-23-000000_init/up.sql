-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);

-- The cart's replica of the catalog (titles and current prices), kept by
-- the catalog.product.* events.
CREATE TABLE catalog_products (
    sku TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents > 0),
    currency TEXT NOT NULL DEFAULT 'USD',
    updated_at BIGINT NOT NULL
);

-- One cart per user: its lines.
CREATE TABLE cart_items (
    user_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    added_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, sku)
);
CREATE INDEX cart_items_by_sku ON cart_items (sku);
