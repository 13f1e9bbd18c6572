-- faxd schema: the truth. migrations/ must rebuild exactly this (tests/integration/test_migrations.py).
-- Ids are 32 lowercase hex characters, like Kazoo's. Times are timestamptz; the API shows
-- them as Gregorian seconds.

CREATE TABLE accounts (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    timezone        text NOT NULL DEFAULT 'UTC',
    paper           text NOT NULL DEFAULT 'a4' CHECK (paper IN ('a4', 'letter')),
    max_outbound    integer NOT NULL DEFAULT 10 CHECK (max_outbound > 0),
    created         timestamptz NOT NULL DEFAULT now(),
    modified        timestamptz NOT NULL DEFAULT now(),
    disabled        timestamptz,
    -- may read and change every account's fax_policy (Kazoo's superduper_admin)
    superduper_admin boolean NOT NULL DEFAULT false,
    -- the account's overrides of the server's submission and destination defaults
    -- (faxd/policy.py: absent keys follow faxd/config.py)
    fax_policy      jsonb NOT NULL DEFAULT '{}'
);

-- API keys and auth tokens are stored as SHA-256 digests, never in clear.
CREATE TABLE api_keys (
    key_hash        bytea PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created         timestamptz NOT NULL DEFAULT now(),
    revoked         timestamptz
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id);

CREATE TABLE auth_tokens (
    token_hash      bytea PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created         timestamptz NOT NULL DEFAULT now(),
    expires         timestamptz NOT NULL,
    revoked         timestamptz
);
CREATE INDEX auth_tokens_expires_idx ON auth_tokens (expires);
CREATE INDEX auth_tokens_account_idx ON auth_tokens (account_id);

-- Failed PUT /v2/api_auth attempts, shared by every node: one row per client address
-- ('addr:<ip>') and per key prefix ('prefix:<digest of the key's first 8 characters>').
CREATE TABLE auth_failures (
    subject         text PRIMARY KEY,
    window_start    timestamptz NOT NULL DEFAULT now(),
    failures        integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);

CREATE TABLE faxboxes (
    id                          text PRIMARY KEY,
    account_id                  text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name                        text NOT NULL,
    caller_name                 text,
    caller_id                   text,
    fax_header                  text,
    fax_identity                text,
    fax_timezone                text,
    retries                     integer CHECK (retries BETWEEN 0 AND 4),
    smtp_email_address          text NOT NULL UNIQUE,
    custom_smtp_email_address   text,
    smtp_permission_list        jsonb NOT NULL DEFAULT '[]',
    notifications               jsonb NOT NULL DEFAULT '{}',
    media                       jsonb NOT NULL DEFAULT '{}',
    -- the faxbox document as the client sent it (unknown fields are kept, as Kazoo keeps them)
    doc                         jsonb NOT NULL DEFAULT '{}',
    revision                    integer NOT NULL DEFAULT 1,
    created                     timestamptz NOT NULL DEFAULT now(),
    modified                    timestamptz NOT NULL DEFAULT now(),
    -- SMTP AUTH (0004): scrypt hash of the faxbox's password; required: refuse unauthenticated mail
    smtp_auth_hash              text,
    smtp_auth_required          boolean NOT NULL DEFAULT false
);
CREATE INDEX faxboxes_account_idx ON faxboxes (account_id, created, id);
CREATE UNIQUE INDEX faxboxes_custom_smtp_idx ON faxboxes (lower(custom_smtp_email_address))
    WHERE custom_smtp_email_address IS NOT NULL;

-- Inbound DIDs (E.164) and the faxbox that receives them.
CREATE TABLE numbers (
    number          text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    faxbox_id       text NOT NULL REFERENCES faxboxes(id) ON DELETE CASCADE,
    created         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX numbers_faxbox_idx ON numbers (faxbox_id);

-- Outbound fax jobs. A job keeps its id from queued to outbox (status tells the folder).
CREATE TABLE jobs (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    faxbox_id       text REFERENCES faxboxes(id) ON DELETE SET NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('attaching_files', 'pending', 'processing',
                                      'completed', 'failed', 'cancelled')),
    source          text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'smtp', 'resubmit', 'forward')),
    origin_id       text,
    to_number       text NOT NULL,
    from_number     text NOT NULL,
    to_name         text,
    from_name       text,
    retries         integer NOT NULL DEFAULT 1 CHECK (retries BETWEEN 0 AND 4),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- the job document as the client sent it, with unknown fields kept
    doc             jsonb NOT NULL DEFAULT '{}',
    tx_result       jsonb NOT NULL DEFAULT '{}',
    progress        jsonb NOT NULL DEFAULT '{}',
    page_count      integer,
    error           text,
    -- dispatch: not before run_after; lease_owner/lease_expires while processing
    run_after       timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_expires   timestamptz,
    call_id         text,
    switch          text,
    cancel_requested boolean NOT NULL DEFAULT false,
    force_audio     boolean NOT NULL DEFAULT false,   -- T.38 failed once: next attempt over audio
    not_fax_failures integer NOT NULL DEFAULT 0,      -- attempts where the far end never spoke T.30
    revision        integer NOT NULL DEFAULT 1,
    created         timestamptz NOT NULL DEFAULT now(),
    modified        timestamptz NOT NULL DEFAULT now(),
    delivered       timestamptz,
    route_id        text,                              -- the route of the call in progress
    force_no_ecm    boolean NOT NULL DEFAULT false     -- ECM failed once: next attempt without
) WITH (fillfactor = 70);   -- room on each page for a live call's updates (migration 0017)
-- Listings: newest first per account, keyset pagination on (created, id).
CREATE INDEX jobs_account_created_idx ON jobs (account_id, created, id);
CREATE INDEX jobs_faxbox_created_idx ON jobs (faxbox_id, created, id) WHERE faxbox_id IS NOT NULL;
CREATE INDEX jobs_outgoing_idx ON jobs (account_id, created, id)
    WHERE status IN ('attaching_files', 'pending', 'processing');
CREATE INDEX jobs_outbox_idx ON jobs (account_id, created, id)
    WHERE status IN ('completed', 'failed', 'cancelled');
-- Dispatch: runnable jobs in order.
CREATE INDEX jobs_runnable_idx ON jobs (run_after, created) WHERE status = 'pending';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires) WHERE status = 'processing';
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

-- One call at a time per destination number, whatever node claims it.
CREATE UNIQUE INDEX jobs_one_call_per_number_idx ON jobs (to_number) WHERE status = 'processing';

-- Every write that can make a job runnable wakes the dispatchers.
CREATE FUNCTION faxd_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('pending', 'attaching_files') THEN
        PERFORM pg_notify('faxd_jobs', NEW.status);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION faxd_notify_job();
CREATE TRIGGER jobs_notify_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION faxd_notify_job();

CREATE TABLE job_attempts (
    job_id          text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    node            text,
    call_id         text,
    switch          text,
    started         timestamptz NOT NULL DEFAULT now(),
    ended           timestamptz,
    outcome         text CHECK (outcome IN ('completed', 'failed', 'interrupted', 'cancelled')),
    tx_result       jsonb NOT NULL DEFAULT '{}',
    route           jsonb,                             -- the route and settings this attempt used
    PRIMARY KEY (job_id, attempt)
);

-- The claim, in one round trip, of up to p_limit jobs (a dispatcher asks for its free channels).
-- Claims for one switch take turns (a transaction-level advisory lock on the switch's name), so
-- its max_channels holds across nodes; claims for other switches run at the same time. Accounts
-- with due work are visited (a skip scan of the per-account due index) and served in the order
-- that single claims one after the other would: the fewest calls in progress (counting those
-- taken in this batch) first, then the due time and age of the account's next job. An account's
-- row is locked (SKIP LOCKED: one being claimed from elsewhere comes last) when its turn first
-- comes, and its calls are counted under that lock, so max_outbound holds across switches. Each
-- account's jobs are read with a cursor on the due index: a job costs one index probe, whatever
-- the backlog. One call per number: a job whose number is in a call, taken in this batch or
-- being taken by a claim on another switch (a transaction-level advisory lock per number, tried
-- without waiting) is passed over. Then: mark the jobs processing under a lease, give each attempt its call id,
-- record it, and return the fax TIFFs.
CREATE FUNCTION faxd_claim_jobs(p_node text, p_switch text, p_max_channels integer, p_lease double precision,
                                p_limit integer)
RETURNS TABLE (id text, account_id text, faxbox_id text, status text, to_number text, from_number text,
               to_name text, from_name text, retries integer, attempts integer, doc jsonb, page_count integer,
               force_audio boolean, not_fax_failures integer, created timestamptz, cancel_requested boolean,
               call_id text, fax_tiff bytea, faxbox_identity text, faxbox_header text, faxbox_media jsonb,
               faxbox_notifications jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_want integer;
    v_ids text[] := '{}';
    v_numbers text[] := '{}';
    -- accounts with due work not visited yet, fairest first (by their calls when the walk began)
    c_account text[];
    c_n integer[];
    c_run_after timestamptz[];
    c_created timestamptz[];
    c_next integer := 1;
    -- accounts whose row this claim holds, with their calls (counted under the lock, plus those
    -- taken here), max_outbound, next job (locked; NULL: none left) and the due order of the last
    -- job read (the cursor on their due jobs)
    h_account text[] := '{}';
    h_n integer[] := '{}';
    h_max integer[] := '{}';
    h_id text[] := '{}';
    h_number text[] := '{}';
    h_run_after timestamptz[] := '{}';
    h_created timestamptz[] := '{}';
    h_key text[] := '{}';
    v_busy text;
    v_best integer;
    v_i integer;
    v_n integer;
    v_max integer;
    v_job record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('faxd_claim'), hashtext(p_switch));
    v_want := least(p_limit, p_max_channels - (SELECT count(*) FROM (SELECT 1 FROM jobs s
                                                 WHERE s.status = 'processing' AND s.switch = p_switch
                                                 LIMIT p_max_channels) s));
    IF v_want > 0 THEN
        WITH RECURSIVE queued(account_id) AS (
            (SELECT q.account_id FROM jobs q WHERE q.status = 'pending' ORDER BY q.account_id LIMIT 1)
            UNION ALL
            SELECT (SELECT q.account_id FROM jobs q
                     WHERE q.status = 'pending' AND q.account_id > queued.account_id
                     ORDER BY q.account_id LIMIT 1)
              FROM queued WHERE queued.account_id IS NOT NULL
        ), fair AS (
            SELECT q.account_id, r.n, t.run_after, t.created
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
        )
        SELECT coalesce(array_agg(f.account_id ORDER BY f.n, f.run_after, f.created), '{}'),
               array_agg(f.n ORDER BY f.n, f.run_after, f.created),
               array_agg(f.run_after ORDER BY f.n, f.run_after, f.created),
               array_agg(f.created ORDER BY f.n, f.run_after, f.created)
          INTO c_account, c_n, c_run_after, c_created
          FROM fair f;

        WHILE cardinality(v_ids) < v_want LOOP
            -- The fairest account held, if it comes before the next one not visited yet.
            v_best := NULL;
            FOR v_i IN 1 .. cardinality(h_account) LOOP
                IF h_id[v_i] IS NOT NULL AND (v_best IS NULL
                       OR (h_n[v_i], h_run_after[v_i], h_created[v_i])
                          < (h_n[v_best], h_run_after[v_best], h_created[v_best])) THEN
                    v_best := v_i;
                END IF;
            END LOOP;
            IF c_next <= cardinality(c_account) AND (v_best IS NULL
                   OR (c_n[c_next], c_run_after[c_next], c_created[c_next])
                      < (h_n[v_best], h_run_after[v_best], h_created[v_best])) THEN
                c_next := c_next + 1;
                PERFORM 1 FROM accounts a WHERE a.id = c_account[c_next - 1] FOR NO KEY UPDATE SKIP LOCKED;
                IF NOT FOUND THEN
                    -- Being claimed from another switch: remember the fairest such account.
                    v_busy := coalesce(v_busy, c_account[c_next - 1]);
                    CONTINUE;
                END IF;
                h_account := h_account || c_account[c_next - 1];
                h_n := h_n || NULL::integer;
                h_max := h_max || NULL::integer;
                h_id := h_id || NULL::text;
                h_number := h_number || NULL::text;
                h_run_after := h_run_after || '-infinity'::timestamptz;
                h_created := h_created || '-infinity'::timestamptz;
                h_key := h_key || ''::text;
                v_best := cardinality(h_account);
            ELSIF v_best IS NULL THEN
                IF cardinality(v_ids) = 0 AND cardinality(h_account) = 0 AND v_busy IS NOT NULL THEN
                    -- Every account with due work was being claimed from another switch: wait for
                    -- the fairest one. This claim holds no other account, so no two claims wait
                    -- on each other.
                    PERFORM 1 FROM accounts a WHERE a.id = v_busy FOR NO KEY UPDATE;
                    h_account := ARRAY[v_busy];
                    h_n := ARRAY[NULL::integer];
                    h_max := ARRAY[NULL::integer];
                    h_id := ARRAY[NULL::text];
                    h_number := ARRAY[NULL::text];
                    h_run_after := ARRAY['-infinity'::timestamptz];
                    h_created := ARRAY['-infinity'::timestamptz];
                    h_key := ARRAY[''::text];
                    v_busy := NULL;
                    v_best := 1;
                ELSE
                    EXIT;
                END IF;
            ELSIF h_number[v_best] = ANY (v_numbers)
                  OR NOT pg_try_advisory_xact_lock(hashtext('faxd_number'), hashtext(h_number[v_best])) THEN
                -- A call to the same number taken by this batch, or by a claim on another switch
                -- not committed yet: passed over. (Waiting for the other claim's entry in the
                -- unique index instead could deadlock two batches that share two numbers.)
                h_id[v_best] := NULL;
            ELSE
                v_ids := v_ids || h_id[v_best];
                v_numbers := v_numbers || h_number[v_best];
                h_n[v_best] := h_n[v_best] + 1;
                h_id[v_best] := NULL;
            END IF;
            IF h_id[v_best] IS NULL AND cardinality(v_ids) < v_want THEN
                -- The account's next job after its cursor (locked: read only when wanted); the
                -- account's calls counted on its first visit, now that its row is ours.
                IF h_n[v_best] IS NULL THEN
                    SELECT a.max_outbound INTO v_max FROM accounts a WHERE a.id = h_account[v_best];
                    SELECT count(*) INTO v_n FROM (SELECT 1 FROM jobs r WHERE r.status = 'processing'
                                                     AND r.account_id = h_account[v_best] LIMIT v_max) r;
                    h_n[v_best] := v_n;
                    h_max[v_best] := v_max;
                END IF;
                IF h_n[v_best] < h_max[v_best] THEN
                    SELECT j.id, j.to_number, j.run_after, j.created INTO v_job FROM jobs j
                     WHERE j.status = 'pending' AND j.account_id = h_account[v_best] AND j.run_after <= now()
                       AND (j.run_after, j.created, j.id) > (h_run_after[v_best], h_created[v_best], h_key[v_best])
                       AND j.to_number <> ALL (v_numbers)
                       AND NOT EXISTS (SELECT 1 FROM jobs b WHERE b.status = 'processing' AND b.to_number = j.to_number)
                     ORDER BY j.run_after, j.created, j.id
                     LIMIT 1
                     FOR UPDATE OF j SKIP LOCKED;
                    IF FOUND THEN
                        h_id[v_best] := v_job.id;
                        h_number[v_best] := v_job.to_number;
                        h_run_after[v_best] := v_job.run_after;
                        h_created[v_best] := v_job.created;
                        h_key[v_best] := v_job.id;
                    END IF;
                END IF;
            END IF;
        END LOOP;
    END IF;
    IF cardinality(v_ids) = 0 THEN
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
    -- Mark the jobs processing under a lease, give each attempt its call id, record it, and
    -- return the fax TIFFs, in the order taken.
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
         WHERE j.id = ANY (v_ids)
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
      FROM claimed c
      JOIN unnest(v_ids) WITH ORDINALITY o(id, n) ON o.id = c.id
      LEFT JOIN faxboxes f ON f.id = c.faxbox_id
     ORDER BY o.n;
END;
$$;

-- The claim of one job: the batch of one.
CREATE FUNCTION faxd_claim_job(p_node text, p_switch text, p_max_channels integer, p_lease double precision)
RETURNS TABLE (id text, account_id text, faxbox_id text, status text, to_number text, from_number text,
               to_name text, from_name text, retries integer, attempts integer, doc jsonb, page_count integer,
               force_audio boolean, not_fax_failures integer, created timestamptz, cancel_requested boolean,
               call_id text, fax_tiff bytea, faxbox_identity text, faxbox_header text, faxbox_media jsonb,
               faxbox_notifications jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM faxd_claim_jobs(p_node, p_switch, p_max_channels, p_lease, 1);
END;
$$;

-- When each account last had a document taken for preparation: the accounts take turns.
-- UNLOGGED: after a crash the turns start again, nothing else is lost.
CREATE UNLOGGED TABLE attach_turns (
    account_id      text PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    last_claim      timestamptz NOT NULL
);

-- Documents to prepare, shared fairly between accounts: a conversion whose node stopped (its
-- lease expired) first, then the account with the fewest documents being prepared, then the
-- one whose turn is oldest (so one slot alternates between accounts), oldest job first within it.
-- Up to p_limit documents in one call (a node's free slots), shared out as that many claims in a
-- row would share them (each taken counts as being prepared, and its account's turn is then the
-- newest), from one look at the accounts waiting: a batch costs one round trip and one pass over
-- the accounts, not one per document. Cost: the accounts with documents waiting, not the
-- documents. Returned with what the preparation needs (the account's paper, the uploaded
-- originals in order), so that a fax-ready document costs its share of the claim and of the
-- transaction that stores the results.
CREATE FUNCTION faxd_claim_attaching(p_node text, p_lease double precision, p_limit integer DEFAULT 1)
RETURNS TABLE (id text, account_id text, faxbox_id text, doc jsonb, created timestamptz, paper text,
               originals bytea[], original_types text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids text[];
    v_got text[];
    v_accounts text[];
    v_counts integer[];   -- documents being prepared per account, the ones taken here included
    v_turns integer[];    -- order of the accounts' turns: oldest first, a turn taken here is the newest
    v_wanted integer[];
    v_open boolean[];     -- the account may still have documents free to take
    v_turn integer;
    v_best integer;
    v_left integer;
    n integer;
BEGIN
    SELECT coalesce(array_agg(x.id ORDER BY x.lease_expires), '{}') INTO v_ids
      FROM (SELECT j.id, j.lease_expires FROM jobs j
             WHERE j.status = 'attaching_files' AND j.lease_expires IS NOT NULL AND j.lease_expires < now()
             ORDER BY j.lease_expires
             LIMIT greatest(p_limit, 0)
             FOR UPDATE OF j SKIP LOCKED) x;
    v_left := p_limit - cardinality(v_ids);
    IF v_left > 0 THEN
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
        ), ordered AS (
            SELECT w.account_id, coalesce(c.n, 0)::integer AS n,
                   row_number() OVER (ORDER BY t.last_claim NULLS FIRST, o.created)::integer AS turn
              FROM waiting w
              LEFT JOIN converting c ON c.account_id = w.account_id
              LEFT JOIN attach_turns t ON t.account_id = w.account_id
             CROSS JOIN LATERAL (SELECT o.created FROM jobs o
                                  WHERE o.status = 'attaching_files' AND o.lease_expires IS NULL
                                    AND o.account_id = w.account_id
                                  ORDER BY o.created LIMIT 1) o
             WHERE w.account_id IS NOT NULL
        )
        SELECT array_agg(account_id ORDER BY turn), array_agg(n ORDER BY turn), array_agg(turn ORDER BY turn)
          INTO v_accounts, v_counts, v_turns FROM ordered;
        v_turn := coalesce(cardinality(v_accounts), 0);
        v_open := array_fill(true, ARRAY[v_turn]);
        WHILE v_left > 0 AND v_turn > 0 LOOP
            -- Share the documents left as claims in a row would: each to the account with the
            -- fewest being prepared, then the oldest turn.
            v_wanted := array_fill(0, ARRAY[cardinality(v_accounts)]);
            FOR k IN 1 .. v_left LOOP
                v_best := NULL;
                FOR a IN 1 .. cardinality(v_accounts) LOOP
                    IF v_open[a] AND (v_best IS NULL OR v_counts[a] < v_counts[v_best]
                                      OR (v_counts[a] = v_counts[v_best] AND v_turns[a] < v_turns[v_best])) THEN
                        v_best := a;
                    END IF;
                END LOOP;
                EXIT WHEN v_best IS NULL;
                v_wanted[v_best] := v_wanted[v_best] + 1;
                v_counts[v_best] := v_counts[v_best] + 1;
                v_turn := v_turn + 1;
                v_turns[v_best] := v_turn;
            END LOOP;
            EXIT WHEN v_best IS NULL AND v_wanted = array_fill(0, ARRAY[cardinality(v_accounts)]);
            -- Take them (oldest first per account; what another node holds is skipped). An account
            -- with fewer free than wanted is done: the shortfall goes round again to the others.
            FOR a IN 1 .. cardinality(v_accounts) LOOP
                CONTINUE WHEN v_wanted[a] = 0;
                SELECT coalesce(array_agg(x.id ORDER BY x.created), '{}') INTO v_got
                  FROM (SELECT j.id, j.created FROM jobs j
                         WHERE j.status = 'attaching_files' AND j.lease_expires IS NULL
                           AND j.account_id = v_accounts[a] AND j.id <> ALL(v_ids)
                         ORDER BY j.created
                         LIMIT v_wanted[a]
                         FOR UPDATE OF j SKIP LOCKED) x;
                v_ids := v_ids || v_got;
                n := cardinality(v_got);
                IF n < v_wanted[a] THEN
                    v_open[a] := false;
                    v_counts[a] := v_counts[a] - (v_wanted[a] - n);
                END IF;
            END LOOP;
            v_left := p_limit - cardinality(v_ids);
            EXIT WHEN NOT (true = ANY(v_open));
        END LOOP;
        -- The turns taken, oldest first, so that the next claim sees them in the same order.
        IF v_accounts IS NOT NULL THEN
            INSERT INTO attach_turns AS t (account_id, last_claim)
            SELECT u.account_id, clock_timestamp() + (row_number() OVER (ORDER BY u.turn)) * interval '1 microsecond'
              FROM unnest(v_accounts, v_turns) AS u(account_id, turn)
             WHERE u.turn > cardinality(v_accounts)
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = ANY(v_ids) AND j.account_id = u.account_id)
            ON CONFLICT (account_id) DO UPDATE SET last_claim = EXCLUDED.last_claim;
        END IF;
    END IF;
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE jobs j SET lease_owner = p_node, lease_expires = now() + make_interval(secs => p_lease),
               modified = now()
         WHERE j.id = ANY(v_ids)
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

-- Received faxes.
CREATE TABLE inbox (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    faxbox_id       text REFERENCES faxboxes(id) ON DELETE SET NULL,
    call_id         text,
    status          text NOT NULL CHECK (status IN ('received', 'failed')),
    from_number     text,
    from_name       text,
    to_number       text NOT NULL,
    rx_result       jsonb NOT NULL DEFAULT '{}',
    page_count      integer NOT NULL DEFAULT 0,
    doc             jsonb NOT NULL DEFAULT '{}',
    revision        integer NOT NULL DEFAULT 1,
    created         timestamptz NOT NULL DEFAULT now(),
    modified        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_account_created_idx ON inbox (account_id, created, id);
CREATE INDEX inbox_faxbox_created_idx ON inbox (faxbox_id, created, id) WHERE faxbox_id IS NOT NULL;
CREATE UNIQUE INDEX inbox_call_idx ON inbox (call_id) WHERE call_id IS NOT NULL;

-- Documents of a job (original uploads, fax TIFF, PDF rendition) or of a received fax.
CREATE TABLE documents (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    job_id          text REFERENCES jobs(id) ON DELETE CASCADE,
    inbox_id        text REFERENCES inbox(id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('original', 'fax_tiff', 'pdf')),
    seq             integer NOT NULL DEFAULT 0,
    content_type    text NOT NULL,
    filename        text,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    pages           integer,
    width           integer,
    resolution      text,
    data            bytea NOT NULL,
    created         timestamptz NOT NULL DEFAULT now(),
    -- encryption at rest (0012): the id of the key the data is sealed with; NULL: stored as it is
    key_id          text,
    CHECK ((job_id IS NULL) <> (inbox_id IS NULL))
);
CREATE INDEX documents_job_idx ON documents (job_id, role, seq) WHERE job_id IS NOT NULL;
CREATE INDEX documents_inbox_idx ON documents (inbox_id, role, seq) WHERE inbox_id IS NOT NULL;

-- Calls being received right now (GET /faxes/incoming).
CREATE TABLE incoming_calls (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    faxbox_id       text REFERENCES faxboxes(id) ON DELETE SET NULL,
    call_id         text NOT NULL,
    node            text,
    switch          text,
    from_number     text,
    from_name       text,
    to_number       text NOT NULL,
    progress        jsonb NOT NULL DEFAULT '{}',
    lease_expires   timestamptz,
    created         timestamptz NOT NULL DEFAULT now(),
    modified        timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);   -- as jobs
CREATE INDEX incoming_calls_account_idx ON incoming_calls (account_id, created, id);

-- Every email-to-fax attempt, accepted or refused.
CREATE TABLE smtplog (
    id                  text PRIMARY KEY,
    account_id          text REFERENCES accounts(id) ON DELETE CASCADE,
    faxbox_id           text REFERENCES faxboxes(id) ON DELETE SET NULL,
    mail_from           text NOT NULL,
    rcpt_to             text NOT NULL,
    subject             text,
    original_number     text,
    translated_number   text,
    attachments         jsonb NOT NULL DEFAULT '[]',
    job_id              text REFERENCES jobs(id) ON DELETE SET NULL,
    errors              jsonb NOT NULL DEFAULT '[]',
    smtp_code           integer,
    smtp_text           text,
    created             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX smtplog_account_created_idx ON smtplog (account_id, created, id);

-- Outbox of notifications: written in the transaction of the change they describe,
-- delivered afterwards with retries.
CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    event_id        text NOT NULL UNIQUE,
    account_id      text REFERENCES accounts(id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    event           text NOT NULL,
    job_id          text,
    inbox_id        text,
    smtplog_id      text,
    target          text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'undeliverable')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt    timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created         timestamptz NOT NULL DEFAULT now(),
    delivered       timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt) WHERE status = 'pending';

-- Live faxd processes; a node whose heartbeat stops loses its leases.
CREATE TABLE nodes (
    id              text PRIMARY KEY,
    hostname        text NOT NULL,
    pid             integer NOT NULL,
    started         timestamptz NOT NULL DEFAULT now(),
    heartbeat       timestamptz NOT NULL DEFAULT now()
);

-- Submissions per account in the current rate window and UTC day: one row per account,
-- taken with one UPDATE per fax queued (faxd/policy.py), so the limits hold across nodes.
-- granted: what the last UPDATE let through (0 when it refused). UNLOGGED: an update commits
-- without waiting for the WAL flush; after a PostgreSQL crash (or on a promoted standby) the
-- counts start again from zero, which lets an account queue one more window's and day's worth.
CREATE UNLOGGED TABLE submission_counters (
    account_id      text PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    window_start    timestamptz NOT NULL DEFAULT 'epoch',
    window_count    integer NOT NULL DEFAULT 0,
    day             date NOT NULL DEFAULT 'epoch',
    day_count       integer NOT NULL DEFAULT 0,
    granted         integer NOT NULL DEFAULT 0
);

-- How many of p_wanted fit under p_limit when p_used are taken in the current period
-- (none when p_current is false: a new window or day); a negative limit has no limit.
CREATE FUNCTION faxd_room(p_limit integer, p_used integer, p_current boolean, p_wanted integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_limit < 0 THEN p_wanted
                ELSE greatest(0, least(p_wanted, p_limit - CASE WHEN p_current THEN p_used ELSE 0 END)) END
$$;

-- The live event stream (0006): one row per state change and per page, written by triggers in
-- the transaction of the change; swept after FAXD_EVENTS_WINDOW; one LISTEN per node fans them out.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    account_id      text,                  -- NULL: refused mail for no known account
    kind            text NOT NULL,
    job_id          text,                  -- outbound job, inbox fax or incoming call
    call_id         text,
    payload         jsonb NOT NULL DEFAULT '{}',
    created         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_account_idx ON events (account_id, id);
CREATE INDEX events_created_idx ON events (created);

-- One event; one NOTIFY per transaction (identical notifications are folded into one).
CREATE FUNCTION faxd_event(p_account text, p_kind text, p_job text, p_call text, p_payload jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (account_id, kind, job_id, call_id, payload)
    VALUES (p_account, p_kind, p_job, p_call, jsonb_strip_nulls(p_payload));
    PERFORM pg_notify('faxd_events', '');
END;
$$;

-- Outbound: queued, prepared, dialing, answered, negotiated, page n of m, completed,
-- failed, cancelled, retry_scheduled.
CREATE FUNCTION faxd_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := NEW.progress;
    op jsonb := '{}';
    sent integer := coalesce((NEW.progress->>'pages_sent')::integer, 0);
    was integer := 0;
    total integer := coalesce(nullif((NEW.progress->>'pages_total')::integer, 0), NEW.page_count, 0);
    n integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM faxd_event(NEW.account_id, 'queued', NEW.id, NULL, jsonb_build_object(
            'status', NEW.status, 'to_number', NEW.to_number, 'from_number', NEW.from_number,
            'source', NEW.source, 'pages_total', NEW.page_count, 'faxbox_id', NEW.faxbox_id));
        RETURN NULL;
    END IF;
    op := OLD.progress;
    IF OLD.status IS DISTINCT FROM NEW.status AND NEW.status = 'processing' THEN
        PERFORM faxd_event(NEW.account_id, 'dialing', NEW.id, NEW.call_id, jsonb_build_object(
            'attempt', NEW.attempts, 'to_number', NEW.to_number, 'switch', NEW.switch,
            'node', NEW.lease_owner, 'pages_total', total));
        RETURN NULL;   -- the claim resets the progress
    END IF;
    IF OLD.status = 'processing' THEN
        was := coalesce((op->>'pages_sent')::integer, 0);
        IF coalesce(op->>'stage', '') IN ('prepare', 'originate')
           AND (p->>'stage' IN ('negotiate', 'pages') OR coalesce((p->>'fax_speed')::integer, 0) > 0) THEN
            PERFORM faxd_event(NEW.account_id, 'answered', NEW.id, NEW.call_id, '{}');
        END IF;
        IF coalesce((p->>'fax_speed')::integer, 0) > 0 AND coalesce((op->>'fax_speed')::integer, 0) = 0 THEN
            PERFORM faxd_event(NEW.account_id, 'negotiated', NEW.id, NEW.call_id, jsonb_build_object(
                'fax_speed', (p->>'fax_speed')::integer, 'ecm', p->'ecm', 't38', p->'t38',
                'remote_station_id', p->>'remote_station_id'));
        END IF;
        IF sent > was THEN
            FOR n IN was + 1 .. sent LOOP
                PERFORM faxd_event(NEW.account_id, 'page', NEW.id, NEW.call_id, jsonb_build_object(
                    'page', n, 'pages_total', total, 'fax_speed', (p->>'fax_speed')::integer,
                    'bad_rows', CASE WHEN n = sent THEN p->'bad_rows' END));
            END LOOP;
        END IF;
    END IF;
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        IF NEW.status = 'pending' AND OLD.status = 'attaching_files' THEN
            PERFORM faxd_event(NEW.account_id, 'prepared', NEW.id, NULL,
                               jsonb_build_object('pages_total', NEW.page_count));
        ELSIF NEW.status = 'pending' THEN
            PERFORM faxd_event(NEW.account_id, 'retry_scheduled', NEW.id, NEW.call_id, jsonb_build_object(
                'attempt', NEW.attempts, 'run_after', NEW.run_after, 'error', NEW.error,
                'result_code', (NEW.tx_result->>'result_code')::integer,
                'hangup_cause', NEW.tx_result->>'hangup_cause'));
        ELSIF NEW.status IN ('completed', 'failed', 'cancelled') THEN
            PERFORM faxd_event(NEW.account_id, NEW.status, NEW.id, NEW.call_id, jsonb_build_object(
                'attempt', NEW.attempts, 'pages_sent', (NEW.tx_result->>'pages_sent')::integer,
                'pages_total', coalesce((NEW.tx_result->>'pages_total')::integer, total),
                'result_code', (NEW.tx_result->>'result_code')::integer,
                'result_text', NEW.tx_result->>'result_text', 'hangup_cause', NEW.tx_result->>'hangup_cause',
                'error', NEW.error, 'fax_speed', (NEW.tx_result->>'fax_speed')::integer,
                'time_elapsed', (NEW.tx_result->>'time_elapsed')::integer));
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_events_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION faxd_job_events();
CREATE TRIGGER jobs_events_update AFTER UPDATE OF status, progress ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.progress IS DISTINCT FROM NEW.progress)
    EXECUTE FUNCTION faxd_job_events();

-- Inbound: started, negotiated, page n, then received or failed (the inbox row).
CREATE FUNCTION faxd_incoming_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    got integer := coalesce((NEW.progress->>'pages_received')::integer, 0);
    was integer := 0;
    n integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM faxd_event(NEW.account_id, 'inbound_started', NEW.id, NEW.call_id, jsonb_build_object(
            'from_number', NEW.from_number, 'from_name', NEW.from_name, 'to_number', NEW.to_number,
            'faxbox_id', NEW.faxbox_id, 'switch', NEW.switch, 'node', NEW.node));
        RETURN NULL;
    END IF;
    was := coalesce((OLD.progress->>'pages_received')::integer, 0);
    IF coalesce((NEW.progress->>'fax_speed')::integer, 0) > 0
       AND coalesce((OLD.progress->>'fax_speed')::integer, 0) = 0 THEN
        PERFORM faxd_event(NEW.account_id, 'inbound_negotiated', NEW.id, NEW.call_id, jsonb_build_object(
            'fax_speed', (NEW.progress->>'fax_speed')::integer, 'ecm', NEW.progress->'ecm',
            't38', NEW.progress->'t38', 'remote_station_id', NEW.progress->>'remote_station_id'));
    END IF;
    IF got > was THEN
        FOR n IN was + 1 .. got LOOP
            PERFORM faxd_event(NEW.account_id, 'inbound_page', NEW.id, NEW.call_id, jsonb_build_object(
                'page', n, 'fax_speed', (NEW.progress->>'fax_speed')::integer,
                'bad_rows', CASE WHEN n = got THEN NEW.progress->'bad_rows' END));
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incoming_events_insert AFTER INSERT ON incoming_calls
    FOR EACH ROW EXECUTE FUNCTION faxd_incoming_events();
CREATE TRIGGER incoming_events_update AFTER UPDATE OF progress ON incoming_calls
    FOR EACH ROW WHEN (OLD.progress IS DISTINCT FROM NEW.progress) EXECUTE FUNCTION faxd_incoming_events();

CREATE FUNCTION faxd_inbox_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM faxd_event(NEW.account_id, CASE WHEN NEW.status = 'received' THEN 'inbound_received'
                                            ELSE 'inbound_failed' END, NEW.id, NEW.call_id, jsonb_build_object(
        'from_number', NEW.from_number, 'to_number', NEW.to_number, 'faxbox_id', NEW.faxbox_id,
        'pages', NEW.page_count, 'result_code', (NEW.rx_result->>'result_code')::integer,
        'result_text', NEW.rx_result->>'result_text', 'hangup_cause', NEW.rx_result->>'hangup_cause',
        'error', nullif(NEW.rx_result->>'error_message', ''), 'fax_speed', (NEW.rx_result->>'fax_speed')::integer,
        'time_elapsed', (NEW.rx_result->>'time_elapsed')::integer));
    RETURN NULL;
END;
$$;
CREATE TRIGGER inbox_events_insert AFTER INSERT ON inbox
    FOR EACH ROW EXECUTE FUNCTION faxd_inbox_events();

-- Email-to-fax: every mail the gateway accepted or refused.
CREATE FUNCTION faxd_smtplog_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM faxd_event(NEW.account_id, CASE WHEN NEW.job_id IS NOT NULL THEN 'email_accepted'
                                            ELSE 'email_refused' END, NEW.job_id, NULL, jsonb_build_object(
        'smtplog_id', NEW.id, 'mail_from', NEW.mail_from, 'rcpt_to', NEW.rcpt_to,
        'faxbox_id', NEW.faxbox_id, 'to_number', NEW.translated_number, 'errors', NEW.errors,
        'smtp_code', NEW.smtp_code, 'smtp_text', NEW.smtp_text));
    RETURN NULL;
END;
$$;
CREATE TRIGGER smtplog_events_insert AFTER INSERT ON smtplog
    FOR EACH ROW EXECUTE FUNCTION faxd_smtplog_events();

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

-- Broadcasts: the jobs of one batch (doc.batch_id) found without scanning the account's jobs.
CREATE INDEX jobs_batch_idx ON jobs (account_id, (doc->>'batch_id')) WHERE doc ? 'batch_id';

-- Retention: whether something final at p_final is past p_days days at p_now (-1 keeps).
CREATE FUNCTION faxd_retention_due(p_final timestamptz, p_now timestamptz, p_days integer) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_days >= 0 AND p_final < p_now - make_interval(days => p_days)
$$;

-- Per-number spacing (number_min_gap): when the last call to each number ended. UNLOGGED: after
-- a crash the gaps start again from nothing, which costs at most one call inside a gap.
CREATE UNLOGGED TABLE number_calls (
    number          text PRIMARY KEY,
    last_ended      timestamptz NOT NULL
);

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

CREATE INDEX jobs_running_route_idx ON jobs (route_id) WHERE status = 'processing' AND route_id IS NOT NULL;
