-- get_inbox_fax --
SELECT id, account_id, faxbox_id, call_id, status, from_number, from_name, to_number, rx_result,
       page_count, doc, revision, created, modified
  FROM inbox WHERE id = %(id)s AND account_id = %(account_id)s;

-- lock_inbox_fax --
SELECT id, faxbox_id, to_number, from_number, status FROM inbox
 WHERE id = %(id)s AND account_id = %(account_id)s FOR UPDATE;

-- delete_inbox_notifications --
DELETE FROM notifications WHERE inbox_id = %(id)s AND account_id = %(account_id)s;

-- delete_inbox_fax --
DELETE FROM inbox WHERE id = %(id)s AND account_id = %(account_id)s RETURNING id;

-- delete_inbox_documents --
DELETE FROM documents WHERE inbox_id = %(id)s AND account_id = %(account_id)s;

-- get_inbox_document --
SELECT content_type, filename, data, size_bytes, created FROM documents
 WHERE inbox_id = %(id)s AND account_id = %(account_id)s AND role = %(role)s
 ORDER BY seq LIMIT 1;
