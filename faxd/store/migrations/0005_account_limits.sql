-- Fraud and abuse controls: super-admins, each account's fax policy, submission counters.

ALTER TABLE accounts ADD COLUMN superduper_admin boolean NOT NULL DEFAULT false;
ALTER TABLE accounts ADD COLUMN fax_policy jsonb NOT NULL DEFAULT '{}';

-- Accounts that exist before this migration keep sending where they sent (international
-- included); only premium-rate numbers become blocked. New accounts take the server's
-- defaults (faxd/config.py: international, premium-rate, shared-cost and personal numbers blocked).
UPDATE accounts SET fax_policy = '{"allow_international": true, "blocked_number_types": ["premium_rate"]}';

-- The bootstrap account (the first account, created by `faxd run` on an empty database) is
-- the super-admin, as Kazoo's first account carries superduper_admin.
UPDATE accounts SET superduper_admin = true
 WHERE id = (SELECT id FROM accounts ORDER BY created, id LIMIT 1) AND name = 'bootstrap';

CREATE UNLOGGED TABLE submission_counters (
    account_id      text PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    window_start    timestamptz NOT NULL DEFAULT 'epoch',
    window_count    integer NOT NULL DEFAULT 0,
    day             date NOT NULL DEFAULT 'epoch',
    day_count       integer NOT NULL DEFAULT 0,
    granted         integer NOT NULL DEFAULT 0
);

CREATE FUNCTION faxd_room(p_limit integer, p_used integer, p_current boolean, p_wanted integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_limit < 0 THEN p_wanted
                ELSE greatest(0, least(p_wanted, p_limit - CASE WHEN p_current THEN p_used ELSE 0 END)) END
$$;
