-- faxbox_for_smtp_domain --
-- The faxbox whose generated or custom address is this domain, with its inbound numbers.
SELECT f.id, f.account_id, f.name, f.caller_name, f.caller_id, f.fax_header, f.fax_identity,
       f.fax_timezone, f.retries, f.smtp_email_address, f.custom_smtp_email_address,
       f.smtp_permission_list, f.notifications, f.media, f.doc, a.paper AS account_paper,
       f.smtp_auth_required,
       COALESCE((SELECT array_agg(n.number ORDER BY n.created, n.number)
                 FROM numbers n WHERE n.faxbox_id = f.id), '{}') AS numbers
FROM faxboxes f
JOIN accounts a ON a.id = f.account_id
WHERE f.smtp_email_address = lower(%(domain)s)
   OR lower(f.custom_smtp_email_address) = lower(%(domain)s)
ORDER BY (f.smtp_email_address = lower(%(domain)s)) DESC
LIMIT 1;

-- record_smtp_attempt --
INSERT INTO smtplog (id, account_id, faxbox_id, mail_from, rcpt_to, subject, original_number,
                     translated_number, attachments, job_id, errors, smtp_code, smtp_text)
VALUES (%(id)s, %(account_id)s, %(faxbox_id)s, %(mail_from)s, %(rcpt_to)s, %(subject)s,
        %(original_number)s, %(translated_number)s, %(attachments)s, %(job_id)s, %(errors)s,
        %(smtp_code)s, %(smtp_text)s)
RETURNING id, account_id, faxbox_id, mail_from, rcpt_to, subject, original_number,
          translated_number, attachments, job_id, errors, smtp_code, smtp_text, created;

-- smtp_attempt --
SELECT id, account_id, faxbox_id, mail_from, rcpt_to, subject, original_number, translated_number,
       attachments, job_id, errors, smtp_code, smtp_text, created
FROM smtplog WHERE id = %(id)s;

-- smtp_job_ready --
-- The gateway converted the documents before accepting the mail: the job skips the attacher
-- (same end state as attach_done; the status change wakes the dispatchers).
UPDATE jobs SET status = 'pending', page_count = %(pages)s::int, run_after = greatest(run_after, now()), modified = now(),
       revision = revision + 1,
       progress = jsonb_build_object('stage', 'queued', 'pages_sent', 0, 'pages_total', %(pages)s::int,
                                     'fax_speed', 0, 'text', 'Waiting to be sent')
 WHERE id = %(id)s AND status = 'attaching_files'
RETURNING id;

-- faxbox_smtp_credentials --
-- SMTP AUTH: the user name is the faxbox's generated address (unique on the server).
SELECT id, smtp_auth_hash FROM faxboxes WHERE smtp_email_address = %(username)s;
