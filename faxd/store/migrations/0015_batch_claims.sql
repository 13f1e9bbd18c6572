-- Claims in batches: one transaction takes up to a dispatcher's free channels, so the switch's
-- lock, the count of its calls, the walk over the accounts with due work and the commit (a WAL
-- flush) are paid once per batch instead of once per call.
--
-- The batch takes jobs in the order that single claims one after the other would: the account
-- with the fewest calls in progress (counting those taken in this batch) first, then the due
-- time and age of its next job. Each account's row is locked (SKIP LOCKED) only when its turn
-- comes, and its calls are counted under that lock, so max_outbound holds across switches while
-- claims from other switches take from the other accounts. Each account's jobs are read with a
-- cursor on the due index (run_after, created, id): a job costs one index probe, whatever the
-- backlog. A job to a number taken in this batch, or being taken by a claim on another switch
-- (a transaction-level advisory lock per number, tried without waiting), is passed over.
-- faxd_claim_job is the batch of one.

DROP FUNCTION faxd_claim_pick(text);

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
CREATE OR REPLACE FUNCTION faxd_claim_job(p_node text, p_switch text, p_max_channels integer, p_lease double precision)
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
