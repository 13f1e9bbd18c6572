-- add_document --
INSERT INTO documents (id, account_id, job_id, inbox_id, role, seq, content_type, filename,
                       size_bytes, sha256, pages, width, resolution, data)
VALUES (%(id)s, %(account_id)s, %(job_id)s, %(inbox_id)s, %(role)s, %(seq)s, %(content_type)s,
        %(filename)s, %(size_bytes)s, %(sha256)s, %(pages)s, %(width)s, %(resolution)s, %(data)s)
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
