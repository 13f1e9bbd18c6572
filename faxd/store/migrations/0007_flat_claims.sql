-- Claims whose cost does not grow with the backlog, and fair document preparation.
--
-- A claim used to sort every due job (12.9 ms at 20,000 due jobs, under one lock for the whole
-- cluster). Now it visits the accounts that have queued jobs (a skip scan of a per-account
-- index), takes each one's first due job from that index, and locks only what its limits
-- need: the switch it dials on (max_channels) and the account it takes from (max_outbound).

-- Queued jobs per account in due order: the skip scan over accounts and each one's next job.
CREATE INDEX jobs_due_idx ON jobs (account_id, run_after, created) WHERE status = 'pending';
-- Calls in progress per account and per switch: the limits count only these.
CREATE INDEX jobs_running_account_idx ON jobs (account_id) WHERE status = 'processing';
CREATE INDEX jobs_running_switch_idx ON jobs (switch) WHERE status = 'processing';
-- Documents waiting to be prepared, per account in order; and those being prepared (leased).
CREATE INDEX jobs_attaching_idx ON jobs (account_id, created)
    WHERE status = 'attaching_files' AND lease_expires IS NULL;
CREATE INDEX jobs_converting_idx ON jobs (lease_expires)
    WHERE status = 'attaching_files' AND lease_expires IS NOT NULL;

-- The next job of one account that may be dialled now, locked; NULL when the account is at its
-- max_outbound or has nothing due (its next jobs all go to numbers already in a call). Called
-- with the account's row locked, so the count of its calls cannot change under it.
CREATE FUNCTION faxd_claim_pick(p_account text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_max integer;
    v_id text;
BEGIN
    SELECT a.max_outbound INTO v_max FROM accounts a WHERE a.id = p_account;
    IF v_max IS NULL OR (SELECT count(*) FROM (SELECT 1 FROM jobs r WHERE r.status = 'processing'
                                                 AND r.account_id = p_account LIMIT v_max) r) >= v_max THEN
        RETURN NULL;
    END IF;
    SELECT j.id INTO v_id FROM jobs j
     WHERE j.status = 'pending' AND j.account_id = p_account AND j.run_after <= now()
       AND NOT EXISTS (SELECT 1 FROM jobs b WHERE b.status = 'processing' AND b.to_number = j.to_number)
     ORDER BY j.run_after, j.created
     LIMIT 1
     FOR UPDATE OF j SKIP LOCKED;
    RETURN v_id;
END;
$$;

-- The claim, in one round trip. Claims for one switch take turns (a transaction-level advisory
-- lock on the switch's name), so its max_channels holds across nodes; claims for other switches
-- run at the same time. Accounts with due work are tried fairest first (fewest calls in
-- progress, then the due time and age of their next job); the account's row is locked (SKIP
-- LOCKED: one being claimed from elsewhere is tried last) before its calls are counted, so
-- max_outbound holds across switches. Then as before: mark the job processing under a lease,
-- give the attempt its call id, record it, and return the fax TIFF.
CREATE OR REPLACE FUNCTION faxd_claim_job(p_node text, p_switch text, p_max_channels integer, p_lease double precision)
RETURNS TABLE (id text, account_id text, faxbox_id text, status text, to_number text, from_number text,
               to_name text, from_name text, retries integer, attempts integer, doc jsonb, page_count integer,
               force_audio boolean, not_fax_failures integer, created timestamptz, cancel_requested boolean,
               call_id text, fax_tiff bytea, faxbox_identity text, faxbox_header text, faxbox_media jsonb,
               faxbox_notifications jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id text;
    v_account text;
    v_busy text[] := '{}';
    v_held boolean := false;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('faxd_claim'), hashtext(p_switch));
    IF (SELECT count(*) FROM (SELECT 1 FROM jobs s WHERE s.status = 'processing' AND s.switch = p_switch
                               LIMIT p_max_channels) s) < p_max_channels THEN
        FOR v_account IN
            WITH RECURSIVE queued(account_id) AS (
                (SELECT q.account_id FROM jobs q WHERE q.status = 'pending' ORDER BY q.account_id LIMIT 1)
                UNION ALL
                SELECT (SELECT q.account_id FROM jobs q
                         WHERE q.status = 'pending' AND q.account_id > queued.account_id
                         ORDER BY q.account_id LIMIT 1)
                  FROM queued WHERE queued.account_id IS NOT NULL
            )
            SELECT q.account_id
              FROM queued q
              JOIN accounts a ON a.id = q.account_id
             CROSS JOIN LATERAL (SELECT count(*) AS n FROM (SELECT 1 FROM jobs r
                                  WHERE r.status = 'processing' AND r.account_id = q.account_id
                                  LIMIT a.max_outbound) r) r
             CROSS JOIN LATERAL (SELECT t.run_after, t.created FROM jobs t
                                  WHERE t.status = 'pending' AND t.account_id = q.account_id AND t.run_after <= now()
                                    AND NOT EXISTS (SELECT 1 FROM jobs b WHERE b.status = 'processing'
                                                                          AND b.to_number = t.to_number)
                                  ORDER BY t.run_after, t.created LIMIT 1) t
             WHERE r.n < a.max_outbound
             ORDER BY r.n, t.run_after, t.created
        LOOP
            PERFORM 1 FROM accounts a WHERE a.id = v_account FOR NO KEY UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
                v_busy := v_busy || v_account;
                CONTINUE;
            END IF;
            v_held := true;
            v_id := faxd_claim_pick(v_account);
            EXIT WHEN v_id IS NOT NULL;
        END LOOP;
        IF v_id IS NULL AND NOT v_held AND cardinality(v_busy) > 0 THEN
            -- Every account with due work was being claimed from another switch: wait for the
            -- fairest one. This claim holds no other account, so no two claims wait on each other.
            PERFORM 1 FROM accounts a WHERE a.id = v_busy[1] FOR NO KEY UPDATE;
            v_id := faxd_claim_pick(v_busy[1]);
        END IF;
    END IF;
    IF v_id IS NULL THEN
        IF EXISTS (SELECT 1 FROM jobs p WHERE p.status = 'pending' AND p.run_after <= now()) THEN
            -- Nothing claimable, yet jobs are due: they wait for a limit (channels, the account's
            -- max_outbound, a number's call in progress). Say so, so that the dispatcher claims
            -- again when one of its calls ends; otherwise only a NOTIFY or the tick brings work.
            RETURN QUERY SELECT NULL::text, NULL::text, NULL::text, 'blocked'::text, NULL::text, NULL::text,
                                NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::integer,
                                NULL::boolean, NULL::integer, NULL::timestamptz, NULL::boolean, NULL::text,
                                NULL::bytea, NULL::text, NULL::text, NULL::jsonb, NULL::jsonb;
        END IF;
        RETURN;
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE jobs j
           SET status = 'processing', lease_owner = p_node,
               lease_expires = now() + make_interval(secs => p_lease),
               attempts = j.attempts + 1, switch = p_switch, call_id = gen_random_uuid()::text,
               modified = now(), revision = j.revision + 1,
               progress = jsonb_build_object('stage', 'originate', 'pages_sent', 0,
                                             'pages_total', coalesce(j.page_count, 0), 'fax_speed', 0,
                                             'text', 'Dialling')
         WHERE j.id = v_id
        RETURNING j.*
    ), attempt AS (
        -- clock_timestamp(): the moment the claim sees the queue (after the locks), not the
        -- start of the transaction, so attempt intervals agree with what other claims saw.
        INSERT INTO job_attempts (job_id, attempt, node, call_id, switch, started)
        SELECT c.id, c.attempts, p_node, c.call_id, p_switch, clock_timestamp() FROM claimed c
    )
    SELECT c.id, c.account_id, c.faxbox_id, c.status, c.to_number, c.from_number, c.to_name, c.from_name,
           c.retries, c.attempts, c.doc, c.page_count, c.force_audio, c.not_fax_failures, c.created,
           c.cancel_requested, c.call_id,
           (SELECT d.data FROM documents d WHERE d.job_id = c.id AND d.role = 'fax_tiff' ORDER BY d.seq LIMIT 1),
           f.fax_identity, f.fax_header, f.media, f.notifications
      FROM claimed c LEFT JOIN faxboxes f ON f.id = c.faxbox_id;
END;
$$;

-- When each account last had a document taken for preparation: the accounts take turns.
-- UNLOGGED: after a crash the turns start again, nothing else is lost.
CREATE UNLOGGED TABLE attach_turns (
    account_id      text PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    last_claim      timestamptz NOT NULL
);

-- A document to prepare, shared fairly between accounts: a conversion whose node stopped (its
-- lease expired) first, then the account with the fewest documents being prepared, then the
-- one whose turn is oldest (so one slot alternates between accounts), oldest job first within it. Cost: the accounts with documents waiting, not the documents. Returned with
-- what the preparation needs (the account's paper, the uploaded originals in order), so that a
-- fax-ready document costs the claim and the one transaction that stores the result.
CREATE FUNCTION faxd_claim_attaching(p_node text, p_lease double precision)
RETURNS TABLE (id text, account_id text, faxbox_id text, doc jsonb, created timestamptz, paper text,
               originals bytea[], original_types text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id text;
    v_account text;
BEGIN
    SELECT j.id INTO v_id FROM jobs j
     WHERE j.status = 'attaching_files' AND j.lease_expires IS NOT NULL AND j.lease_expires < now()
     ORDER BY j.lease_expires
     LIMIT 1
     FOR UPDATE OF j SKIP LOCKED;
    IF v_id IS NULL THEN
        FOR v_account IN
            WITH RECURSIVE waiting(account_id) AS (
                (SELECT w.account_id FROM jobs w WHERE w.status = 'attaching_files' AND w.lease_expires IS NULL
                  ORDER BY w.account_id LIMIT 1)
                UNION ALL
                SELECT (SELECT w.account_id FROM jobs w
                         WHERE w.status = 'attaching_files' AND w.lease_expires IS NULL
                           AND w.account_id > waiting.account_id
                         ORDER BY w.account_id LIMIT 1)
                  FROM waiting WHERE waiting.account_id IS NOT NULL
            ), converting AS (
                SELECT c.account_id, count(*) AS n FROM jobs c
                 WHERE c.status = 'attaching_files' AND c.lease_expires IS NOT NULL
                 GROUP BY c.account_id
            )
            SELECT w.account_id
              FROM waiting w
              LEFT JOIN converting c ON c.account_id = w.account_id
              LEFT JOIN attach_turns t ON t.account_id = w.account_id
             CROSS JOIN LATERAL (SELECT o.created FROM jobs o
                                  WHERE o.status = 'attaching_files' AND o.lease_expires IS NULL
                                    AND o.account_id = w.account_id
                                  ORDER BY o.created LIMIT 1) o
             WHERE w.account_id IS NOT NULL
             ORDER BY coalesce(c.n, 0), t.last_claim NULLS FIRST, o.created
        LOOP
            SELECT j.id INTO v_id FROM jobs j
             WHERE j.status = 'attaching_files' AND j.lease_expires IS NULL AND j.account_id = v_account
             ORDER BY j.created
             LIMIT 1
             FOR UPDATE OF j SKIP LOCKED;
            IF v_id IS NOT NULL THEN
                INSERT INTO attach_turns AS t (account_id, last_claim) VALUES (v_account, clock_timestamp())
                ON CONFLICT (account_id) DO UPDATE SET last_claim = EXCLUDED.last_claim;
                EXIT;
            END IF;
        END LOOP;
    END IF;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE jobs j SET lease_owner = p_node, lease_expires = now() + make_interval(secs => p_lease),
               modified = now()
         WHERE j.id = v_id
        RETURNING j.id, j.account_id, j.faxbox_id, j.doc, j.created
    )
    SELECT c.id, c.account_id, c.faxbox_id, c.doc, c.created, a.paper,
           coalesce(o.data, '{}'), coalesce(o.types, '{}')
      FROM claimed c
      JOIN accounts a ON a.id = c.account_id
     CROSS JOIN LATERAL (SELECT array_agg(d.data ORDER BY d.seq) AS data,
                                array_agg(d.content_type ORDER BY d.seq) AS types
                           FROM documents d WHERE d.job_id = c.id AND d.role = 'original') o;
END;
$$;
