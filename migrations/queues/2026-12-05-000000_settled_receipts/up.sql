-- Receipts that settled their message (an ack, or a nack), kept for a day,
-- so that repeating the same settlement with the same receipt answers as
-- the first did and changes nothing — as SQS's DeleteMessage does for a
-- message already deleted. A receipt is unique to one lease.
CREATE TABLE settled_receipts (
    receipt TEXT PRIMARY KEY NOT NULL,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('acked', 'requeued', 'dead_lettered')),
    settled_at BIGINT NOT NULL
);
CREATE INDEX settled_receipts_at ON settled_receipts (settled_at);
CREATE INDEX settled_receipts_queue ON settled_receipts (queue);
