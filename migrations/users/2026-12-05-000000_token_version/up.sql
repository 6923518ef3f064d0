-- Bumped by every password change: a token issued at an older version is revoked.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
