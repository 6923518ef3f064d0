-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);

-- The catalog. `title_lc` / `author_lc` are lowercased copies for
-- case-insensitive search (`author_lc` is '' when there is no author).
CREATE TABLE products (
    sku TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    author TEXT,
    category TEXT NOT NULL,
    description TEXT,
    price_cents BIGINT NOT NULL CHECK (price_cents > 0),
    currency TEXT NOT NULL DEFAULT 'USD',
    title_lc TEXT NOT NULL,
    author_lc TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX products_by_category ON products (category, sku);
