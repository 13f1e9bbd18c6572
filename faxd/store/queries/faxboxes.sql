-- get_faxbox --
SELECT f.id, f.account_id, f.name, f.caller_name, f.caller_id, f.fax_header, f.fax_identity,
       f.fax_timezone, f.retries, f.smtp_email_address, f.custom_smtp_email_address,
       f.smtp_permission_list, f.notifications, f.media, f.doc, f.revision, f.created, f.modified,
       f.smtp_auth_hash IS NOT NULL AS smtp_auth_set, f.smtp_auth_required,
       (SELECT coalesce(array_agg(n.number ORDER BY n.number), '{}') FROM numbers n
         WHERE n.faxbox_id = f.id) AS numbers
  FROM faxboxes f WHERE f.id = %(id)s AND f.account_id = %(account_id)s;

-- insert_faxbox --
INSERT INTO faxboxes (id, account_id, name, caller_name, caller_id, fax_header, fax_identity,
                      fax_timezone, retries, smtp_email_address, custom_smtp_email_address,
                      smtp_permission_list, notifications, media, doc, smtp_auth_hash, smtp_auth_required)
VALUES (%(id)s, %(account_id)s, %(name)s, %(caller_name)s, %(caller_id)s, %(fax_header)s,
        %(fax_identity)s, %(fax_timezone)s, %(retries)s, %(smtp_email_address)s,
        %(custom_smtp_email_address)s, %(smtp_permission_list)s, %(notifications)s, %(media)s, %(doc)s,
        %(smtp_auth_hash)s, %(smtp_auth_required)s);

-- update_faxbox --
-- revision NULL: no If-Match given, last writer wins.
UPDATE faxboxes
   SET name = %(name)s, caller_name = %(caller_name)s, caller_id = %(caller_id)s,
       fax_header = %(fax_header)s, fax_identity = %(fax_identity)s, fax_timezone = %(fax_timezone)s,
       retries = %(retries)s, custom_smtp_email_address = %(custom_smtp_email_address)s,
       smtp_permission_list = %(smtp_permission_list)s, notifications = %(notifications)s,
       media = %(media)s, doc = %(doc)s, revision = revision + 1, modified = now(),
       -- smtp_auth given without a password keeps the stored hash
       smtp_auth_hash = CASE WHEN %(smtp_auth_keep)s THEN smtp_auth_hash ELSE %(smtp_auth_hash)s END,
       smtp_auth_required = CASE WHEN %(smtp_auth_keep_required)s THEN smtp_auth_required
                                 ELSE %(smtp_auth_required)s END
 WHERE id = %(id)s AND account_id = %(account_id)s
   AND (%(revision)s::integer IS NULL OR revision = %(revision)s::integer)
RETURNING id;

-- lock_faxbox --
SELECT id, revision FROM faxboxes WHERE id = %(id)s AND account_id = %(account_id)s FOR UPDATE;

-- delete_faxbox --
DELETE FROM faxboxes WHERE id = %(id)s AND account_id = %(account_id)s;

-- numbers_owned_elsewhere --
SELECT number, faxbox_id FROM numbers WHERE number = ANY(%(numbers)s) AND faxbox_id <> %(id)s;

-- delete_faxbox_numbers --
DELETE FROM numbers WHERE faxbox_id = %(id)s;

-- insert_faxbox_number --
INSERT INTO numbers (number, account_id, faxbox_id) VALUES (%(number)s, %(account_id)s, %(id)s);
