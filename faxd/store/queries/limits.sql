-- take_submissions --
-- Take up to %(wanted)s submissions from the account's rate window and UTC day, in one
-- statement: the row lock orders concurrent submitters of one account on every node, and
-- under READ COMMITTED a waiting UPDATE re-reads the row it waited for, so none is counted
-- twice or lost. granted is how many fitted (0: refused). Limits: the account's fax_policy,
-- else the server's defaults (%(rate_limit)s, %(daily_quota)s); negative means no limit.
-- No row: the account has never submitted (insert_submission_counter, then again).
UPDATE submission_counters c
   SET granted = least(faxd_room(l.rate_limit, c.window_count, c.window_start = l.window_start, %(wanted)s::integer),
                       faxd_room(l.daily_quota, c.day_count, c.day = l.day, %(wanted)s::integer)),
       window_count = CASE WHEN c.window_start = l.window_start THEN c.window_count ELSE 0 END
                      + least(faxd_room(l.rate_limit, c.window_count, c.window_start = l.window_start, %(wanted)s::integer),
                              faxd_room(l.daily_quota, c.day_count, c.day = l.day, %(wanted)s::integer)),
       day_count = CASE WHEN c.day = l.day THEN c.day_count ELSE 0 END
                   + least(faxd_room(l.rate_limit, c.window_count, c.window_start = l.window_start, %(wanted)s::integer),
                           faxd_room(l.daily_quota, c.day_count, c.day = l.day, %(wanted)s::integer)),
       window_start = l.window_start,
       day = l.day
  FROM (SELECT a.id, a.fax_policy,
               coalesce((a.fax_policy->>'submit_rate_limit')::integer, %(rate_limit)s::integer) AS rate_limit,
               coalesce((a.fax_policy->>'submit_daily_quota')::integer, %(daily_quota)s::integer) AS daily_quota,
               to_timestamp(floor(extract(epoch FROM now())::float8 / %(window)s::float8) * %(window)s::float8) AS window_start,
               (now() AT TIME ZONE 'UTC')::date AS day
          FROM accounts a
         WHERE a.id = %(account_id)s) l
 WHERE c.account_id = l.id
RETURNING c.granted, l.fax_policy::text AS fax_policy_text, l.rate_limit, l.daily_quota, c.window_start, c.window_count,
          c.day, c.day_count,
          extract(epoch FROM c.window_start - now())::float8 + %(window)s::float8 AS window_left,
          extract(epoch FROM (c.day + 1) - (now() AT TIME ZONE 'UTC'))::float8 AS day_left;

-- insert_submission_counter --
INSERT INTO submission_counters (account_id) VALUES (%(account_id)s) ON CONFLICT DO NOTHING;

-- give_back_submissions --
-- A submission taken and then refused by the destination policy does not count.
UPDATE submission_counters
   SET window_count = CASE WHEN window_start = %(window_start)s::timestamptz THEN greatest(0, window_count - %(n)s::integer)
                           ELSE window_count END,
       day_count = CASE WHEN day = %(day)s::date THEN greatest(0, day_count - %(n)s::integer) ELSE day_count END
 WHERE account_id = %(account_id)s;

-- get_fax_policy --
SELECT id, superduper_admin, fax_policy FROM accounts WHERE id = %(account_id)s;

-- set_fax_policy --
UPDATE accounts SET fax_policy = %(fax_policy)s, modified = now()
 WHERE id = %(account_id)s
RETURNING id, superduper_admin, fax_policy;

-- make_superduper_admin --
UPDATE accounts SET superduper_admin = true, modified = now() WHERE id = %(account_id)s;
