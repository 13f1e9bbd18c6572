-- notification_job --
-- A job with what its notifications need: faxbox settings and time zone.
SELECT j.id, j.account_id, j.faxbox_id, j.status, j.source, j.to_number, j.from_number, j.to_name,
       j.from_name, j.retries, j.attempts, j.doc, j.tx_result, j.page_count, j.error,
       j.created, j.modified, j.delivered,
       f.name AS faxbox_name, f.notifications AS faxbox_notifications,
       COALESCE(j.doc->>'fax_timezone', f.fax_timezone, a.timezone, 'UTC') AS timezone
FROM jobs j
JOIN accounts a ON a.id = j.account_id
LEFT JOIN faxboxes f ON f.id = j.faxbox_id
WHERE j.id = %(id)s;

-- notification_jobs --
-- notification_job for several jobs at once.
SELECT j.id, j.account_id, j.faxbox_id, j.status, j.source, j.to_number, j.from_number, j.to_name,
       j.from_name, j.retries, j.attempts, j.doc, j.tx_result, j.page_count, j.error,
       j.created, j.modified, j.delivered,
       f.name AS faxbox_name, f.notifications AS faxbox_notifications,
       COALESCE(j.doc->>'fax_timezone', f.fax_timezone, a.timezone, 'UTC') AS timezone
FROM jobs j
JOIN accounts a ON a.id = j.account_id
LEFT JOIN faxboxes f ON f.id = j.faxbox_id
WHERE j.id = ANY(%(ids)s::text[]);

-- notification_inbox --
SELECT i.id, i.account_id, i.faxbox_id, i.call_id, i.status, i.from_number, i.from_name, i.to_number,
       i.rx_result, i.page_count, i.doc, i.created, i.modified,
       f.name AS faxbox_name, f.notifications AS faxbox_notifications,
       COALESCE(f.fax_timezone, a.timezone, 'UTC') AS timezone
FROM inbox i
JOIN accounts a ON a.id = i.account_id
LEFT JOIN faxboxes f ON f.id = i.faxbox_id
WHERE i.id = %(id)s;

-- notification_smtplog --
SELECT s.id, s.account_id, s.faxbox_id, s.mail_from, s.rcpt_to, s.subject, s.original_number,
       s.translated_number, s.attachments, s.job_id, s.errors, s.smtp_code, s.smtp_text, s.created,
       f.name AS faxbox_name, f.notifications AS faxbox_notifications,
       COALESCE(f.fax_timezone, a.timezone, 'UTC') AS timezone
FROM smtplog s
LEFT JOIN accounts a ON a.id = s.account_id
LEFT JOIN faxboxes f ON f.id = s.faxbox_id
WHERE s.id = %(id)s;

-- insert_notification --
INSERT INTO notifications (event_id, account_id, channel, event, job_id, inbox_id, smtplog_id, target, payload)
VALUES (%(event_id)s, %(account_id)s, %(channel)s, %(event)s, %(job_id)s, %(inbox_id)s, %(smtplog_id)s,
        %(target)s, %(payload)s)
RETURNING id, event_id, channel, event, target;

-- wake_notifier --
-- Delivered at commit: the notifier wakes without polling.
SELECT pg_notify('faxd_notifications', '');

-- notifications_async_commit --
-- This transaction's commit does not wait for the WAL flush. Used for claims and delivery
-- marks: losing one in a crash only means the row is due again (one more, de-duplicable delivery).
SELECT set_config('synchronous_commit', 'off', true);

-- claim_due_notifications --
-- Take due rows and push next_attempt past a lease: a delivery that dies with its process
-- is tried again after the lease (webhook receivers de-duplicate by event_id).
UPDATE notifications n
SET attempts = n.attempts + 1,
    next_attempt = now() + make_interval(secs => %(lease)s)
FROM (SELECT id FROM notifications
      WHERE status = 'pending' AND next_attempt <= now()
      ORDER BY next_attempt, id
      LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) due
WHERE n.id = due.id
RETURNING n.id, n.event_id, n.account_id, n.channel, n.event, n.job_id, n.inbox_id, n.smtplog_id,
          n.target, n.payload, n.status, n.attempts, n.created;

-- next_notification_due --
SELECT EXTRACT(EPOCH FROM (min(next_attempt) - now()))::float8 AS seconds
FROM notifications WHERE status = 'pending';

-- mark_notification_delivered --
UPDATE notifications SET status = 'delivered', delivered = now(), last_error = NULL
WHERE id = %(id)s;

-- mark_notification_retry --
UPDATE notifications SET next_attempt = now() + make_interval(secs => %(delay)s), last_error = %(error)s
WHERE id = %(id)s AND status = 'pending';

-- mark_notification_final --
UPDATE notifications SET status = %(status)s, last_error = %(error)s
WHERE id = %(id)s;

-- list_notifications --
SELECT id, event_id, account_id, channel, event, job_id, inbox_id, smtplog_id, target, payload,
       status, attempts, next_attempt, last_error, created, delivered
FROM notifications
WHERE (%(job_id)s::text IS NULL OR job_id = %(job_id)s)
  AND (%(inbox_id)s::text IS NULL OR inbox_id = %(inbox_id)s)
  AND (%(smtplog_id)s::text IS NULL OR smtplog_id = %(smtplog_id)s)
ORDER BY id;
