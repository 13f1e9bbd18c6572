-- add_document --
INSERT INTO documents (id, account_id, job_id, inbox_id, role, seq, content_type, filename,
                       size_bytes, sha256, pages, width, resolution, data, key_id)
VALUES (%(id)s, %(account_id)s, %(job_id)s, %(inbox_id)s, %(role)s, %(seq)s, %(content_type)s,
        %(filename)s, %(size_bytes)s, %(sha256)s, %(pages)s, %(width)s, %(resolution)s, %(data)s, %(key_id)s)
RETURNING id;

-- get_document --
SELECT id, account_id, job_id, inbox_id, role, seq, content_type, filename, size_bytes, sha256,
       pages, width, resolution, data, created
FROM documents
WHERE (job_id = %(job_id)s OR inbox_id = %(inbox_id)s) AND role = %(role)s AND seq = %(seq)s
ORDER BY created DESC
LIMIT 1;

-- list_documents --
-- Metadata only: the data stays in the database.
SELECT id, account_id, job_id, inbox_id, role, seq, content_type, filename, size_bytes, sha256,
       pages, width, resolution, created
FROM documents
WHERE (job_id = %(job_id)s OR inbox_id = %(inbox_id)s)
  AND (%(role)s::text IS NULL OR role = %(role)s)
ORDER BY CASE role WHEN 'original' THEN 0 WHEN 'fax_tiff' THEN 1 ELSE 2 END, seq;

-- delete_documents --
DELETE FROM documents WHERE job_id = %(job_id)s OR inbox_id = %(inbox_id)s;

-- documents_to_rekey --
-- Documents not sealed with the current key (plaintext ones included), a batch at a time;
-- rows another node is re-encrypting are skipped.
SELECT id, data FROM documents
 WHERE key_id IS DISTINCT FROM %(current)s
 LIMIT %(batch)s FOR UPDATE SKIP LOCKED;

-- rekey_document --
UPDATE documents SET data = %(data)s, key_id = %(key_id)s WHERE id = %(id)s;
