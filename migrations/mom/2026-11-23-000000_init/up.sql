-- The post office's journal: every envelope, written (fsync) before delivery.
CREATE TABLE envelopes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT,
    idempotency_key TEXT UNIQUE,
    owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    result TEXT,
    last_error TEXT,
    checksum BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX envelopes_status_seq ON envelopes (status, seq);
CREATE INDEX envelopes_status_updated ON envelopes (status, updated_at);
