-- Idempotent submission: a client's Idempotency-Key (or an email's Message-ID) per account,
-- the digest of the request it came with and the job it created. A key is honoured for 24
-- hours; after that it may be used again (the row is reclaimed or swept).

CREATE TABLE idempotency_keys (
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    job_id          text REFERENCES jobs(id) ON DELETE SET NULL,
    created         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
