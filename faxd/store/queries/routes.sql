-- Routes per destination (fax_routes) and what was learned per number (fax_learned).
-- %(account_id)s NULL: the server's defaults.

-- list_routes --
SELECT * FROM fax_routes WHERE account_id IS NOT DISTINCT FROM %(account_id)s ORDER BY prefix, id;

-- get_route --
SELECT * FROM fax_routes WHERE id = %(id)s AND account_id IS NOT DISTINCT FROM %(account_id)s;

-- insert_route --
INSERT INTO fax_routes (id, account_id, prefix, name, switch, dial_string, gateway, t38, ecm, max_speed,
                        max_calls, min_gap, retry_period, retry_overrides)
VALUES (%(id)s, %(account_id)s, %(prefix)s, %(name)s, %(switch)s, %(dial_string)s, %(gateway)s, %(t38)s,
        %(ecm)s, %(max_speed)s, %(max_calls)s, %(min_gap)s, %(retry_period)s, %(retry_overrides)s)
RETURNING *;

-- update_route --
UPDATE fax_routes
   SET prefix = %(prefix)s, name = %(name)s, switch = %(switch)s, dial_string = %(dial_string)s,
       gateway = %(gateway)s, t38 = %(t38)s, ecm = %(ecm)s, max_speed = %(max_speed)s,
       max_calls = %(max_calls)s, min_gap = %(min_gap)s, retry_period = %(retry_period)s,
       retry_overrides = %(retry_overrides)s, modified = now()
 WHERE id = %(id)s AND account_id IS NOT DISTINCT FROM %(account_id)s
RETURNING *;

-- delete_route --
DELETE FROM fax_routes WHERE id = %(id)s AND account_id IS NOT DISTINCT FROM %(account_id)s RETURNING id;

-- routes_for_number --
-- Every route whose prefix covers the number, the account's own and the server's defaults
-- (faxd.routes.choose picks), what was learned for the number, if not expired, and the job's
-- own fallback.
SELECT 'route' AS kind, r.id, r.account_id, r.prefix, r.switch, r.dial_string, r.gateway, r.t38, r.ecm,
       r.max_speed, r.max_calls, r.min_gap, r.retry_period, r.retry_overrides, NULL::boolean AS t38_off,
       NULL::boolean AS ecm_off
  FROM fax_routes r
 WHERE (r.account_id = %(account_id)s OR r.account_id IS NULL) AND starts_with(%(number)s, r.prefix)
UNION ALL
SELECT 'learned', NULL, l.account_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       l.t38_off, l.ecm_off
  FROM fax_learned l
 WHERE l.account_id = %(account_id)s AND l.number = %(number)s AND l.expires_at > %(now)s
UNION ALL
-- the job's own ECM fallback (ECM failed on an earlier attempt)
SELECT 'job', j.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, j.force_no_ecm
  FROM jobs j WHERE j.id = %(job_id)s;

-- admit_route --
-- Per-route limits: the route row locked, the calls in progress through it counted (this job
-- aside) and the gap since the last admitted call measured; admitted when within both.
SELECT r.id, r.last_call,
       (SELECT count(*) FROM jobs j
         WHERE j.status = 'processing' AND j.route_id = r.id AND j.id <> %(job_id)s) AS running
  FROM fax_routes r WHERE r.id = %(route_id)s FOR UPDATE OF r;

-- route_admitted --
WITH r AS (UPDATE fax_routes SET last_call = %(now)s WHERE id = %(route_id)s)
UPDATE jobs SET route_id = %(route_id)s WHERE id = %(job_id)s;

-- learn_number --
INSERT INTO fax_learned (account_id, number, t38_off, ecm_off, learned_at, expires_at)
VALUES (%(account_id)s, %(number)s, %(t38_off)s, %(ecm_off)s, %(now)s, %(expires_at)s)
ON CONFLICT (account_id, number) DO UPDATE
   SET t38_off = fax_learned.t38_off OR EXCLUDED.t38_off, ecm_off = fax_learned.ecm_off OR EXCLUDED.ecm_off,
       learned_at = EXCLUDED.learned_at, expires_at = EXCLUDED.expires_at;

-- list_learned --
SELECT number, t38_off, ecm_off, learned_at, expires_at FROM fax_learned
 WHERE account_id = %(account_id)s AND expires_at > %(now)s
   AND (%(number)s::text IS NULL OR number = %(number)s::text)
 ORDER BY number;

-- forget_learned --
DELETE FROM fax_learned
 WHERE account_id = %(account_id)s AND (%(number)s::text IS NULL OR number = %(number)s::text)
RETURNING number;

-- expire_learned --
DELETE FROM fax_learned WHERE ctid IN (
    SELECT ctid FROM fax_learned WHERE expires_at <= %(now)s LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
RETURNING number;
