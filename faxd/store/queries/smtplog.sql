-- get_smtplog_entry --
SELECT id, account_id, faxbox_id, mail_from, rcpt_to, subject, original_number, translated_number,
       attachments, job_id, errors, smtp_code, smtp_text, created
  FROM smtplog WHERE id = %(id)s AND account_id = %(account_id)s;
