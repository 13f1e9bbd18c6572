-- The jobs NOTIFY carries the job's new status, so that the dispatcher ignores jobs that
-- still need attaching and the attacher ignores jobs that are ready to send.
CREATE OR REPLACE FUNCTION faxd_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('pending', 'attaching_files') THEN
        PERFORM pg_notify('faxd_jobs', NEW.status);
    END IF;
    RETURN NULL;
END;
$$;

-- A claim that finds nothing says whether due jobs are waiting for a limit ("blocked" row).
CREATE OR REPLACE FUNCTION faxd_claim_job(p_node text, p_switch text, p_max_channels integer, p_lease double precision)
RETURNS TABLE (id text, account_id text, faxbox_id text, status text, to_number text, from_number text,
               to_name text, from_name text, retries integer, attempts integer, doc jsonb, page_count integer,
               force_audio boolean, not_fax_failures integer, created timestamptz, cancel_requested boolean,
               call_id text, fax_tiff bytea, faxbox_identity text, faxbox_header text, faxbox_media jsonb,
               faxbox_notifications jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('faxd_claim'));
    RETURN QUERY
    WITH running AS (
        SELECT r.account_id, count(*) AS n FROM jobs r WHERE r.status = 'processing' GROUP BY r.account_id
    ), candidate AS (
        SELECT j.id
          FROM jobs j
          JOIN accounts a ON a.id = j.account_id
          LEFT JOIN running r ON r.account_id = j.account_id
         WHERE j.status = 'pending'
           AND j.run_after <= now()
           AND coalesce(r.n, 0) < a.max_outbound
           AND NOT EXISTS (SELECT 1 FROM jobs b WHERE b.status = 'processing' AND b.to_number = j.to_number)
           AND (SELECT count(*) FROM jobs c WHERE c.status = 'processing' AND c.switch = p_switch) < p_max_channels
         ORDER BY coalesce(r.n, 0), j.run_after, j.created
         LIMIT 1
         FOR UPDATE OF j SKIP LOCKED
    ), claimed AS (
        UPDATE jobs j
           SET status = 'processing', lease_owner = p_node,
               lease_expires = now() + make_interval(secs => p_lease),
               attempts = j.attempts + 1, switch = p_switch, call_id = gen_random_uuid()::text,
               modified = now(), revision = j.revision + 1,
               progress = jsonb_build_object('stage', 'originate', 'pages_sent', 0,
                                             'pages_total', coalesce(j.page_count, 0), 'fax_speed', 0,
                                             'text', 'Dialling')
          FROM candidate
         WHERE j.id = candidate.id
        RETURNING j.*
    ), attempt AS (
        -- clock_timestamp(): the moment the claim sees the queue (after the lock), not the
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
    IF NOT FOUND AND EXISTS (SELECT 1 FROM jobs p WHERE p.status = 'pending' AND p.run_after <= now()) THEN
        -- Nothing claimable, yet jobs are due: they wait for a limit (channels, the account's
        -- max_outbound, a number's call in progress). Say so, so that the dispatcher claims
        -- again when one of its calls ends; otherwise only a NOTIFY or the tick brings work.
        RETURN QUERY SELECT NULL::text, NULL::text, NULL::text, 'blocked'::text, NULL::text, NULL::text,
                            NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::jsonb, NULL::integer,
                            NULL::boolean, NULL::integer, NULL::timestamptz, NULL::boolean, NULL::text,
                            NULL::bytea, NULL::text, NULL::text, NULL::jsonb, NULL::jsonb;
    END IF;
END;
$$;
