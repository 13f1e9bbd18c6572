-- insert_job --
-- Returns only what the database decides; the caller has the rest of the row in hand.
INSERT INTO jobs (id, account_id, faxbox_id, status, source, origin_id, to_number, from_number,
                  to_name, from_name, retries, doc, run_after)
VALUES (%(id)s, %(account_id)s, %(faxbox_id)s, %(status)s, %(source)s, %(origin_id)s, %(to_number)s,
        %(from_number)s, %(to_name)s, %(from_name)s, %(retries)s, %(doc)s,
        coalesce(%(run_after)s::timestamptz, now()))
RETURNING created;

-- insert_jobs --
-- Several jobs in one statement (InsertBatcher fills VALUES %s with a row of parameters per job;
-- run_after is coalesce(%s::timestamptz, now()): a scheduled job's first moment, else now).
INSERT INTO jobs (id, account_id, faxbox_id, status, source, origin_id, to_number, from_number,
                  to_name, from_name, retries, doc, run_after)
VALUES %s
RETURNING id, created;

-- get_job --
-- The whole job with each attempt's own tx_result (times as Gregorian seconds).
SELECT j.id, j.account_id, j.faxbox_id, j.status, j.source, j.origin_id, j.to_number, j.from_number,
       j.to_name, j.from_name, j.retries, j.attempts, j.doc, j.tx_result, j.progress, j.page_count,
       j.error, j.cancel_requested, j.revision, j.created, j.modified, j.delivered,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'attempt', a.attempt, 'outcome', a.outcome, 'call_id', a.call_id,
                  'started', extract(epoch FROM a.started)::bigint + 62167219200,
                  'ended', extract(epoch FROM a.ended)::bigint + 62167219200,
                  'tx_result', a.tx_result, 'route', a.route) ORDER BY a.attempt), '[]'::jsonb)
          FROM job_attempts a WHERE a.job_id = j.id) AS attempt_history
  FROM jobs j
 WHERE j.id = %(id)s AND j.account_id = %(account_id)s;

-- lock_job --
SELECT id, status, faxbox_id, doc FROM jobs
 WHERE id = %(id)s AND account_id = %(account_id)s FOR UPDATE;

-- cancel_waiting_job --
-- Not yet on a call: final at once, shown in the outbox.
UPDATE jobs
   SET status = 'cancelled', delivered = now(), modified = now(), revision = revision + 1,
       cancel_requested = true, lease_owner = NULL, lease_expires = NULL,
       tx_result = tx_result || '{"success": false, "error_message": "cancelled by user"}'::jsonb,
       progress = progress || '{"text": "Cancelled by user"}'::jsonb
 WHERE id = %(id)s AND account_id = %(account_id)s AND status IN ('attaching_files', 'pending');

-- request_job_cancel --
-- On a call: the engine hangs up and finalizes the job as cancelled.
UPDATE jobs SET cancel_requested = true, modified = now(), revision = revision + 1
 WHERE id = %(id)s AND account_id = %(account_id)s AND status = 'processing';

-- notify_job_cancel --
SELECT pg_notify('faxd_cancel', %(id)s);

-- delete_final_job --
DELETE FROM jobs
 WHERE id = %(id)s AND account_id = %(account_id)s AND status IN ('completed', 'failed', 'cancelled')
RETURNING id;

-- delete_job_notifications --
DELETE FROM notifications WHERE job_id = %(id)s AND account_id = %(account_id)s;

-- delete_job_documents --
DELETE FROM documents WHERE job_id = %(id)s AND account_id = %(account_id)s;

-- get_job_document --
SELECT content_type, filename, data, size_bytes, created FROM documents
 WHERE job_id = %(id)s AND account_id = %(account_id)s AND role = %(role)s
 ORDER BY seq LIMIT 1;

-- count_job_originals --
SELECT count(*) AS n FROM documents WHERE job_id = %(id)s AND role = 'original';

-- copy_job_originals --
INSERT INTO documents (id, account_id, job_id, role, seq, content_type, filename, size_bytes, sha256,
                       pages, width, resolution, data, key_id)
SELECT md5(random()::text || clock_timestamp()::text || d.id), d.account_id, %(new_id)s, 'original',
       d.seq, d.content_type, d.filename, d.size_bytes, d.sha256, d.pages, d.width, d.resolution, d.data, d.key_id
  FROM documents d
 WHERE d.job_id = %(id)s AND d.role = 'original';

-- copy_job_fax_as_original --
INSERT INTO documents (id, account_id, job_id, role, seq, content_type, filename, size_bytes, sha256,
                       pages, width, resolution, data, key_id)
SELECT md5(random()::text || clock_timestamp()::text || d.id), d.account_id, %(new_id)s, 'original',
       0, d.content_type, d.filename, d.size_bytes, d.sha256, d.pages, d.width, d.resolution, d.data, d.key_id
  FROM documents d
 WHERE d.job_id = %(id)s AND d.role = 'fax_tiff';

-- copy_inbox_fax_as_original --
INSERT INTO documents (id, account_id, job_id, role, seq, content_type, filename, size_bytes, sha256,
                       pages, width, resolution, data, key_id)
SELECT md5(random()::text || clock_timestamp()::text || d.id), d.account_id, %(new_id)s, 'original',
       0, 'image/tiff', coalesce(d.filename, 'fax.tif'), d.size_bytes, d.sha256, d.pages, d.width,
       d.resolution, d.data, d.key_id
  FROM documents d
 WHERE d.inbox_id = %(inbox_id)s AND d.account_id = %(account_id)s AND d.role = 'fax_tiff'
 ORDER BY d.seq LIMIT 1;
