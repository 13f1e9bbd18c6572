-- Routes per destination: settings for the numbers that start with a prefix (longest prefix
-- wins; an account's own routes before the server's defaults, whose account_id is NULL). A NULL
-- setting follows the job, the faxbox and the configuration.
CREATE TABLE fax_routes (
    id              text PRIMARY KEY,
    account_id      text REFERENCES accounts(id) ON DELETE CASCADE,
    prefix          text NOT NULL CHECK (prefix ~ '^\+[0-9]{0,15}$'),
    name            text,
    switch          text CHECK (switch IN ('software', 'freeswitch', 'asterisk')),
    dial_string     text,
    gateway         text,
    t38             text CHECK (t38 IN ('off', 'accept', 'request')),
    ecm             boolean,
    max_speed       integer CHECK (max_speed IN (14400, 9600, 4800)),
    max_calls       integer CHECK (max_calls > 0),
    min_gap         double precision CHECK (min_gap >= 0),
    retry_period    integer CHECK (retry_period > 0),
    retry_overrides jsonb,
    -- when the last call through this route was admitted (min_gap)
    last_call       timestamptz,
    created         timestamptz NOT NULL DEFAULT now(),
    modified        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX fax_routes_prefix_idx ON fax_routes (coalesce(account_id, ''), prefix);

-- Learning per number: a number that failed in T.38 and then went through in audio (or failed
-- with ECM and went through without) starts there next time, until expires_at.
CREATE TABLE fax_learned (
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    number          text NOT NULL,
    t38_off         boolean NOT NULL DEFAULT false,
    ecm_off         boolean NOT NULL DEFAULT false,
    learned_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, number)
);
CREATE INDEX fax_learned_expires_idx ON fax_learned (expires_at);

-- The route a job's call goes through (per-route call limits count these) and whether ECM
-- failed once (the next attempt goes without); each attempt's route and settings.
ALTER TABLE jobs ADD COLUMN route_id text;
ALTER TABLE jobs ADD COLUMN force_no_ecm boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_running_route_idx ON jobs (route_id) WHERE status = 'processing' AND route_id IS NOT NULL;
ALTER TABLE job_attempts ADD COLUMN route jsonb;
