-- claim_jobs --
-- See faxd_claim_jobs in schema.sql: one round trip from wake-up to calls ready to dial, up to
-- the limit asked, in the order taken. run_after (which the claim leaves alone): when the job
-- became runnable, for the dispatch latency histogram (set to now() when its documents are
-- converted, or the time asked for), and claimed: the claim's own time on the same clock (the
-- 'dialing' event's), so the histogram holds the database's view of the wait, not the
-- dispatcher's scheduling delays after it.
SELECT c.*, j.run_after, now() AS claimed
  FROM faxd_claim_jobs(%(node)s, %(switch)s, %(max_channels)s, %(lease)s, %(limit)s) WITH ORDINALITY c
  LEFT JOIN jobs j ON j.id = c.id
 ORDER BY c.ordinality;

-- renew_leases --
-- The leases of one or more calls (group commit merges them), each job at most once; a job
-- missing from the result is no longer ours (another node, or a recovery, took it over).
-- Rows are found by primary key whatever the statistics say (see record_progress).
UPDATE jobs j SET lease_expires = now() + make_interval(secs => v.lease)
  FROM unnest(%(ids)s::text[], %(nodes)s::text[], %(attempts)s::integer[], %(leases)s::float8[])
       AS v(id, node, attempt, lease)
 WHERE j.id = v.id AND j.lease_owner = v.node AND j.attempts = v.attempt AND (j.status = 'processing') IS TRUE
RETURNING j.id, j.cancel_requested;

-- record_progress --
-- The progress of one or more calls (group commit merges them): each job at most once.
-- Each row is found by its primary key, whatever the statistics say: the rows come as arrays
-- (the planner knows how many), and the status test is written `IS TRUE` so that it cannot
-- be answered from the partial indexes on processing jobs. Planned from those, with the
-- count of calls on the line only as fresh as the last ANALYZE, a group of one read every
-- call on the line (a bitmap scan of 8,000 rows: 5-8 ms instead of 0.7).
UPDATE jobs j SET progress = v.progress, modified = now(), revision = j.revision + 1
  FROM unnest(%(ids)s::text[], %(nodes)s::text[], %(attempts)s::integer[], %(progress)s::text[]::jsonb[])
       AS v(id, node, attempt, progress)
 WHERE j.id = v.id AND j.lease_owner = v.node AND j.attempts = v.attempt AND (j.status = 'processing') IS TRUE;

-- release_jobs --
-- End one or more attempts (group commit merges them), each job at most once: final (to the
-- outbox) or back to pending for a retry, and record each attempt's outcome. Only the owner
-- of an attempt may; the result holds the jobs released. Nullable values come as text (an
-- array of NULLs alone has no type) and are cast here.
WITH v AS (
    SELECT * FROM unnest(%(ids)s::text[], %(nodes)s::text[], %(attempts)s::integer[], %(statuses)s::text[],
                         %(outcomes)s::text[], %(tx_results)s::text[], %(progress)s::text[],
                         %(run_afters)s::text[], %(force_audios)s::text[], %(force_no_ecms)s::text[],
                         %(not_fax_failures)s::integer[], %(errors)s::text[], %(routes)s::text[])
           AS v(id, node, attempt, status, outcome, tx_result, progress, run_after, force_audio, force_no_ecm,
                not_fax_failures, error, route)
), released AS (
    UPDATE jobs j
       SET status = v.status, tx_result = v.tx_result::jsonb, progress = v.progress::jsonb,
           run_after = coalesce(v.run_after::timestamptz, j.run_after), force_audio = v.force_audio::boolean,
           force_no_ecm = coalesce(v.force_no_ecm::boolean, j.force_no_ecm),
           not_fax_failures = v.not_fax_failures, error = v.error,
           lease_owner = NULL, lease_expires = NULL, modified = now(), revision = j.revision + 1,
           delivered = CASE WHEN v.status IN ('completed', 'failed', 'cancelled') THEN now() END
      FROM v
     WHERE j.id = v.id AND j.lease_owner = v.node AND j.attempts = v.attempt AND (j.status = 'processing') IS TRUE
    RETURNING j.id, j.status, v.attempt, v.node, v.outcome, v.tx_result, v.route
), attempt AS (
    -- An upsert: an attempt interrupted before its call started may have no row yet.
    INSERT INTO job_attempts (job_id, attempt, node, ended, outcome, tx_result, route)
    SELECT id, attempt, node, clock_timestamp(), outcome, tx_result::jsonb, route::jsonb FROM released
    ON CONFLICT (job_id, attempt) DO UPDATE
       SET ended = EXCLUDED.ended, outcome = EXCLUDED.outcome, tx_result = EXCLUDED.tx_result,
           route = coalesce(EXCLUDED.route, job_attempts.route)
)
SELECT id, status FROM released;

-- take_expired_leases --
-- Jobs whose worker stopped renewing: this node takes them over.
UPDATE jobs j SET lease_owner = %(node)s, lease_expires = now() + make_interval(secs => %(lease)s)
  FROM (SELECT id FROM jobs WHERE status = 'processing' AND lease_expires < now()
         ORDER BY lease_expires LIMIT %(limit)s FOR UPDATE SKIP LOCKED) x
 WHERE j.id = x.id
RETURNING j.id, j.account_id, j.faxbox_id, j.status, j.to_number, j.from_number, j.to_name, j.from_name,
          j.retries, j.attempts, j.doc, j.page_count, j.force_audio, j.not_fax_failures, j.created,
          j.cancel_requested, j.call_id, j.switch, j.progress;

-- return_job_to_pending --
-- Graceful shutdown: a job whose call never started goes back to the queue, attempt not counted.
UPDATE jobs SET status = 'pending', attempts = greatest(attempts - 1, 0), lease_owner = NULL,
       lease_expires = NULL, modified = now(), revision = revision + 1, progress = '{}'::jsonb
 WHERE id = %(id)s AND lease_owner = %(node)s AND attempts = %(attempt)s AND status = 'processing';

-- defer_job --
-- Per-number spacing: a job claimed too soon after the last call to its number goes back to the
-- queue until the gap is over, attempt not counted; likewise a route's limits.
UPDATE jobs SET status = 'pending', attempts = greatest(attempts - 1, 0), lease_owner = NULL,
       lease_expires = NULL, modified = now(), revision = revision + 1, run_after = %(run_after)s,
       progress = jsonb_build_object('stage', 'queued', 'pages_sent', 0, 'pages_total', page_count,
                                     'fax_speed', 0, 'text', %(text)s::text)
 WHERE id = %(id)s AND lease_owner = %(node)s AND attempts = %(attempt)s AND status = 'processing';

-- number_call_ended --
INSERT INTO number_calls (number, last_ended)
SELECT to_number, now() FROM jobs WHERE id = %(id)s
ON CONFLICT (number) DO UPDATE SET last_ended = EXCLUDED.last_ended;

-- number_last_call --
SELECT last_ended FROM number_calls WHERE number = %(number)s;

-- delete_attempt --
DELETE FROM job_attempts WHERE job_id = %(job_id)s AND attempt = %(attempt)s;

-- cancel_requested_jobs --
SELECT id FROM jobs WHERE status = 'processing' AND lease_owner = %(node)s AND cancel_requested;

-- claim_attaching_jobs --
-- Up to %(limit)s jobs whose document must be fetched and converted (lease-guarded like a call),
-- taken fairly between accounts: see faxd_claim_attaching in schema.sql.
SELECT * FROM faxd_claim_attaching(%(node)s, %(lease)s, %(limit)s);

-- attach_done_many --
-- Jobs ready to send, each with its fax TIFF and PDF rendition, in one statement; only the jobs
-- still leased to this node (the others were taken over or cancelled) change.
WITH r AS (
    SELECT * FROM unnest(%(ids)s::text[], %(pages)s::integer[], %(widths)s::integer[], %(resolutions)s::text[],
                         %(tiff_ids)s::text[], %(tiff_sizes)s::bigint[], %(tiff_sha256s)s::text[], %(tiffs)s::bytea[],
                         %(pdf_ids)s::text[], %(pdf_sizes)s::bigint[], %(pdf_sha256s)s::text[], %(pdfs)s::bytea[])
        AS r(id, pages, width, resolution, tiff_id, tiff_size, tiff_sha256, tiff, pdf_id, pdf_size, pdf_sha256, pdf)
), done AS (
    UPDATE jobs j SET status = 'pending', page_count = r.pages, lease_owner = NULL, lease_expires = NULL,
           run_after = greatest(j.run_after, now()), modified = now(), revision = j.revision + 1,
           progress = jsonb_build_object('stage', 'queued', 'pages_sent', 0, 'pages_total', r.pages,
                                         'fax_speed', 0, 'text', 'Waiting to be sent')
      FROM r
     WHERE j.id = r.id AND j.lease_owner = %(node)s AND j.status = 'attaching_files'
    RETURNING j.id, j.account_id
), tiff AS (
    INSERT INTO documents (id, account_id, job_id, role, seq, content_type, filename, size_bytes, sha256,
                           pages, width, resolution, data, key_id)
    SELECT r.tiff_id, d.account_id, d.id, 'fax_tiff', 0, 'image/tiff', 'fax.tif', r.tiff_size, r.tiff_sha256,
           r.pages, r.width, r.resolution, r.tiff, %(key_id)s FROM done d JOIN r ON r.id = d.id
), pdf AS (
    INSERT INTO documents (id, account_id, job_id, role, seq, content_type, filename, size_bytes, sha256,
                           pages, data, key_id)
    SELECT r.pdf_id, d.account_id, d.id, 'pdf', 0, 'application/pdf', 'fax.pdf', r.pdf_size, r.pdf_sha256,
           r.pages, r.pdf, %(key_id)s FROM done d JOIN r ON r.id = d.id
)
SELECT id FROM done;

-- attach_failed --
UPDATE jobs SET status = 'failed', tx_result = %(tx_result)s, error = %(error)s::text, lease_owner = NULL,
       lease_expires = NULL, delivered = now(), modified = now(), revision = revision + 1,
       progress = jsonb_build_object('stage', 'prepare', 'pages_sent', 0, 'pages_total', 0,
                                     'fax_speed', 0, 'text', %(error)s::text)
 WHERE id = %(id)s AND lease_owner = %(node)s AND status = 'attaching_files'
RETURNING id;

-- attach_release --
-- Shutdown while converting: leave it for any node to pick up again.
UPDATE jobs SET lease_owner = NULL, lease_expires = NULL
 WHERE id = %(id)s AND lease_owner = %(node)s AND status = 'attaching_files';

-- start_incoming --
INSERT INTO incoming_calls (id, account_id, faxbox_id, call_id, node, switch, from_number, from_name,
                            to_number, progress, lease_expires)
VALUES (%(id)s, %(account_id)s, %(faxbox_id)s, %(call_id)s, %(node)s, %(switch)s, %(from_number)s,
        %(from_name)s, %(to_number)s, %(progress)s, now() + make_interval(secs => %(lease)s));

-- update_incoming --
UPDATE incoming_calls SET progress = %(progress)s, modified = now(),
       lease_expires = now() + make_interval(secs => %(lease)s)
 WHERE id = %(id)s;

-- end_incoming --
DELETE FROM incoming_calls WHERE id = %(id)s;

-- insert_inbox --
INSERT INTO inbox (id, account_id, faxbox_id, call_id, status, from_number, from_name, to_number,
                   rx_result, page_count)
VALUES (%(id)s, %(account_id)s, %(faxbox_id)s, %(call_id)s, %(status)s, %(from_number)s, %(from_name)s,
        %(to_number)s, %(rx_result)s, %(page_count)s)
ON CONFLICT (call_id) WHERE call_id IS NOT NULL DO NOTHING
RETURNING id;

-- forget_dead_incoming --
-- Calls whose receiving node died: not live any more.
DELETE FROM incoming_calls WHERE lease_expires < now() - interval '1 minute';

-- count_final_jobs --
SELECT count(*) AS n FROM jobs WHERE account_id = %(account_id)s AND status IN ('completed', 'failed', 'cancelled');
