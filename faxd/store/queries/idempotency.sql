-- claim_idempotency_key --
-- Take the key for this request. Returns a row when the key is new (or older than 24 hours,
-- reclaimed), none when it is held. A concurrent request with the same key waits here for
-- the first one's transaction, then gets none and reads what the first one stored.
INSERT INTO idempotency_keys (account_id, key, request_hash)
VALUES (%(account_id)s, %(key)s, %(request_hash)s)
ON CONFLICT (account_id, key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, job_id = NULL, created = now()
 WHERE idempotency_keys.created < now() - interval '24 hours'
RETURNING key;

-- idempotency_key --
SELECT request_hash, job_id FROM idempotency_keys
 WHERE account_id = %(account_id)s AND key = %(key)s;

-- set_idempotency_job --
UPDATE idempotency_keys SET job_id = %(job_id)s
 WHERE account_id = %(account_id)s AND key = %(key)s
RETURNING key;

-- sweep_idempotency_keys --
-- Expired keys, a batch at a time (the index on created finds them without a scan).
DELETE FROM idempotency_keys
 WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys
                          WHERE created < now() - interval '24 hours' LIMIT %(batch)s))
RETURNING key;

-- held_idempotency_key --
-- A key in force (younger than 24 hours) whose request has committed.
SELECT request_hash, job_id FROM idempotency_keys
 WHERE account_id = %(account_id)s AND key = %(key)s AND created >= now() - interval '24 hours';
