-- A disabled account's keys and tokens are refused until it is enabled again.
ALTER TABLE accounts ADD COLUMN disabled timestamptz;

-- A revoked token (logout, key rotation, account disabled) is kept until it expires, so that
-- a request carrying it is told why it is refused.
ALTER TABLE auth_tokens ADD COLUMN revoked timestamptz;

-- Failed PUT /v2/api_auth attempts, shared by every node: one row per client address
-- ('addr:<ip>') and per key prefix ('prefix:<digest of the key's first 8 characters>').
CREATE TABLE auth_failures (
    subject         text PRIMARY KEY,
    window_start    timestamptz NOT NULL DEFAULT now(),
    failures        integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);
