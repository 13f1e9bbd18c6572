-- account_paper --
SELECT paper FROM accounts WHERE id = %(account_id)s;

-- copy_batch_fax --
-- The broadcast's fax TIFF, stored once by the request, copied inside the database to each of
-- the other jobs of the batch (one statement; the bytes do not travel again).
INSERT INTO documents (id, account_id, job_id, role, seq, content_type, filename, size_bytes, sha256,
                       pages, width, resolution, data, key_id)
SELECT md5(random()::text || clock_timestamp()::text || j.id), d.account_id, j.id, d.role, d.seq,
       d.content_type, d.filename, d.size_bytes, d.sha256, d.pages, d.width, d.resolution, d.data, d.key_id
  FROM documents d, unnest(%(job_ids)s::text[]) AS j(id)
 WHERE d.job_id = %(first)s AND d.role = 'fax_tiff';

-- batch_ready --
-- Every job of the batch skips the attacher (as smtp_job_ready): pending with its page count.
UPDATE jobs SET status = 'pending', page_count = %(pages)s::int, run_after = greatest(run_after, now()),
       modified = now(), revision = revision + 1,
       progress = jsonb_build_object('stage', 'queued', 'pages_sent', 0, 'pages_total', %(pages)s::int,
                                     'fax_speed', 0, 'text', 'Waiting to be sent')
 WHERE id = ANY(%(job_ids)s::text[]) AND status = 'attaching_files'
RETURNING id;

-- batch_summary --
SELECT status, count(*)::int AS n, min(created) AS created, max(delivered) AS last_delivered
  FROM jobs
 WHERE account_id = %(account_id)s AND doc->>'batch_id' = %(batch_id)s
   AND (%(faxbox_id)s::text IS NULL OR faxbox_id = %(faxbox_id)s::text)
 GROUP BY status;
