-- Effectively-once: the envelopes this service has applied, with what they produced.
CREATE TABLE inbox (
    envelope_id TEXT PRIMARY KEY NOT NULL,
    outcome TEXT NOT NULL,
    processed_at BIGINT NOT NULL
);
-- A replica of users.db's email -> id, kept by user.registered / user.deleted,
-- so grants can name a user by email.
CREATE TABLE users (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE
);
CREATE TABLE queues (
    name TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL,
    visibility_timeout_s INTEGER NOT NULL CHECK (visibility_timeout_s >= 1),
    max_deliveries INTEGER NOT NULL CHECK (max_deliveries >= 1),
    message_ttl_s INTEGER CHECK (message_ttl_s >= 1),
    created_at BIGINT NOT NULL
);
CREATE INDEX queues_owner ON queues (owner_id, name);
CREATE TABLE topics (
    name TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX topics_owner ON topics (owner_id, name);
-- What the owner of a queue or topic let another user do. No row: nothing.
CREATE TABLE grants (
    kind TEXT NOT NULL CHECK (kind IN ('queue', 'topic')),
    name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    publish BOOLEAN NOT NULL,
    consume BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name, user_id)
);
CREATE INDEX grants_user ON grants (user_id, kind, name);
-- A queue bound to a topic with an AMQP-style pattern.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    topic TEXT NOT NULL,
    queue TEXT NOT NULL,
    pattern TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (topic, queue, pattern)
);
CREATE INDEX subscriptions_queue ON subscriptions (queue);
-- Live messages: waiting (visible_at <= now), delayed (visible_at > now, no
-- receipt) or leased (visible_at = lease end, receipt set). Acked messages
-- are deleted; dead ones move to dead_letters. Receive takes them in
-- (visible_at, seq) order: FIFO by publication, a redelivery when its lease
-- ends, a delayed message when its delay ends.
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT,
    topic TEXT,
    routing_key TEXT,
    visible_at BIGINT NOT NULL,
    receipt TEXT,
    delivery_count INTEGER NOT NULL DEFAULT 0 CHECK (delivery_count >= 0),
    expires_at BIGINT,
    published_at BIGINT NOT NULL
);
CREATE INDEX messages_next ON messages (queue, visible_at, seq);
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY NOT NULL,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT,
    topic TEXT,
    routing_key TEXT,
    delivery_count INTEGER NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('max_deliveries', 'expired', 'rejected')),
    published_at BIGINT NOT NULL,
    dead_at BIGINT NOT NULL
);
CREATE INDEX dead_letters_queue ON dead_letters (queue, dead_at, id);
