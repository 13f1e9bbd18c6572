-- events_xip --
-- The transactions running in this snapshot (run first in a REPEATABLE READ transaction, so
-- that events_after sees the same snapshot).
SELECT coalesce(array_agg(x::text), '{}') AS xip FROM pg_snapshot_xip(pg_current_snapshot()) AS x;

-- events_after --
SELECT id, account_id, kind, job_id, call_id, payload, created FROM events
 WHERE id > %(after)s ORDER BY id LIMIT %(limit)s;

-- events_running --
-- How many of these transactions are still running.
SELECT count(*) AS n FROM unnest(%(xids)s::text[]) AS x WHERE pg_xact_status(x::xid8) = 'in progress';

-- events_last_id --
SELECT coalesce(max(id), 0) AS id FROM events;

-- events_first_id --
SELECT min(id) AS id FROM events;

-- account_events_between --
SELECT id, account_id, kind, job_id, call_id, payload, created FROM events
 WHERE account_id = %(account_id)s AND id > %(after)s AND id <= %(upto)s ORDER BY id LIMIT %(limit)s;

-- all_events_between --
SELECT id, account_id, kind, job_id, call_id, payload, created FROM events
 WHERE id > %(after)s AND id <= %(upto)s ORDER BY id LIMIT %(limit)s;

-- sweep_events --
DELETE FROM events WHERE created < now() - make_interval(secs => %(window)s);

-- metrics_jobs_by_account --
SELECT account_id, status, count(*) AS n FROM jobs WHERE status IN ('attaching_files', 'pending', 'processing')
 GROUP BY account_id, status;

-- metrics_notifications_pending --
SELECT count(*) AS n FROM notifications WHERE status = 'pending';

-- add_event --
-- An event of no account (switch connections): on the all-accounts stream only.
SELECT faxd_event(NULL, %(kind)s, NULL, NULL, %(payload)s);

-- events_renumber --
-- Events committed after the readers passed their ids: a new id each, so that they arrive as
-- new events (faxd/events.py). Committed at once, with a NOTIFY for every node's reader.
WITH moved AS (
    UPDATE events SET id = nextval(pg_get_serial_sequence('events', 'id'))
     WHERE id = ANY(%(ids)s::bigint[])
    RETURNING id
)
SELECT count(*) AS n, pg_notify('faxd_events', '') AS notified FROM moved;
