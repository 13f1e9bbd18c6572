-- faxbox_for_smtp_domain --
-- The faxbox whose generated or custom address is this domain, with its inbound numbers.
SELECT f.id, f.account_id, f.name, f.caller_name, f.caller_id, f.fax_header, f.fax_identity,
       f.fax_timezone, f.retries, f.smtp_email_address, f.custom_smtp_email_address,
       f.smtp_permission_list, f.notifications, f.media, f.doc,
       COALESCE((SELECT array_agg(n.number ORDER BY n.created, n.number)
                 FROM numbers n WHERE n.faxbox_id = f.id), '{}') AS numbers
FROM faxboxes f
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
