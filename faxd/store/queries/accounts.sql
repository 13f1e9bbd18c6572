-- ping --
SELECT 1 AS ok;

-- count_accounts --
SELECT count(*) AS n FROM accounts;

-- lock_bootstrap --
-- Serialise bootstrap between nodes starting together.
SELECT pg_advisory_xact_lock(hashtext('faxd_bootstrap'));

-- create_account --
INSERT INTO accounts (id, name) VALUES (%(id)s, %(name)s)
RETURNING id, name, timezone, paper, max_outbound, created, modified;

-- get_account --
SELECT id, name, timezone, paper, max_outbound, created, modified FROM accounts WHERE id = %(id)s;

-- create_api_key --
INSERT INTO api_keys (key_hash, account_id) VALUES (%(key_hash)s, %(account_id)s);

-- account_for_api_key --
SELECT k.account_id, a.disabled IS NOT NULL AS disabled
  FROM api_keys k JOIN accounts a ON a.id = k.account_id
 WHERE k.key_hash = %(key_hash)s AND k.revoked IS NULL;

-- create_auth_token --
INSERT INTO auth_tokens (token_hash, account_id, expires)
VALUES (%(token_hash)s, %(account_id)s, now() + make_interval(secs => %(ttl)s))
RETURNING expires;

-- account_for_token --
SELECT t.account_id, t.expires, t.revoked IS NOT NULL AS revoked, a.disabled IS NOT NULL AS disabled
  FROM auth_tokens t JOIN accounts a ON a.id = t.account_id
 WHERE t.token_hash = %(token_hash)s AND t.expires > now();

-- revoke_token --
UPDATE auth_tokens SET revoked = now()
 WHERE token_hash = %(token_hash)s AND revoked IS NULL AND expires > now()
RETURNING account_id;

-- revoke_account_tokens --
UPDATE auth_tokens SET revoked = now()
 WHERE account_id = %(account_id)s AND revoked IS NULL AND expires > now();

-- revoke_api_keys --
UPDATE api_keys SET revoked = now() WHERE account_id = %(account_id)s AND revoked IS NULL;

-- notify_auth --
-- Every node's token cache listens: 'token:<digest hex>' or 'account:<id>'.
SELECT pg_notify('faxd_auth', %(payload)s);

-- lock_account --
SELECT id, disabled FROM accounts WHERE id = %(id)s FOR UPDATE;

-- set_account_disabled --
UPDATE accounts
   SET disabled = CASE WHEN %(disabled)s THEN coalesce(disabled, now()) END, modified = now()
 WHERE id = %(id)s
RETURNING id, disabled;

-- list_accounts --
SELECT a.id, a.name, a.created, a.disabled,
       (SELECT count(*) FROM api_keys k WHERE k.account_id = a.id AND k.revoked IS NULL) AS api_keys,
       (SELECT count(*) FROM auth_tokens t
         WHERE t.account_id = a.id AND t.revoked IS NULL AND t.expires > now()) AS live_tokens
  FROM accounts a
 ORDER BY a.created, a.id;

-- auth_locked --
-- The longest lockout among the subjects of one attempt, in whole seconds.
SELECT subject, ceil(extract(epoch FROM locked_until - now()))::integer AS retry_after
  FROM auth_failures
 WHERE subject = ANY(%(subjects)s::text[]) AND locked_until > now()
 ORDER BY locked_until DESC
 LIMIT 1;

-- auth_failed --
-- Count one failure for each subject; a subject reaching max_failures within the window is
-- locked for lockout seconds and starts counting again from zero.
INSERT INTO auth_failures AS f (subject, window_start, failures, locked_until)
SELECT s, now(),
       CASE WHEN %(max_failures)s <= 1 THEN 0 ELSE 1 END,
       CASE WHEN %(max_failures)s <= 1 THEN now() + make_interval(secs => %(lockout)s) END
  FROM unnest(%(subjects)s::text[]) AS s
ON CONFLICT (subject) DO UPDATE SET
    failures = CASE
        WHEN (CASE WHEN f.window_start <= now() - make_interval(secs => %(window)s) THEN 1 ELSE f.failures + 1 END)
             >= %(max_failures)s THEN 0
        ELSE (CASE WHEN f.window_start <= now() - make_interval(secs => %(window)s) THEN 1 ELSE f.failures + 1 END)
    END,
    window_start = CASE
        WHEN f.window_start <= now() - make_interval(secs => %(window)s)
          OR f.failures + 1 >= %(max_failures)s THEN now()
        ELSE f.window_start
    END,
    locked_until = CASE
        WHEN (CASE WHEN f.window_start <= now() - make_interval(secs => %(window)s) THEN 1 ELSE f.failures + 1 END)
             >= %(max_failures)s THEN now() + make_interval(secs => %(lockout)s)
        ELSE f.locked_until
    END
RETURNING subject, failures, locked_until > now() AS locked;

-- sweep_auth_failures --
DELETE FROM auth_failures
 WHERE window_start < now() - make_interval(secs => %(window)s)
   AND (locked_until IS NULL OR locked_until < now());

-- delete_expired_tokens --
DELETE FROM auth_tokens WHERE expires <= now();

-- create_faxbox --
INSERT INTO faxboxes (id, account_id, name, caller_name, caller_id, fax_identity, smtp_email_address, doc)
VALUES (%(id)s, %(account_id)s, %(name)s, %(caller_name)s, %(caller_id)s, %(fax_identity)s,
        %(smtp_email_address)s, %(doc)s)
RETURNING id;

-- add_number --
INSERT INTO numbers (number, account_id, faxbox_id) VALUES (%(number)s, %(account_id)s, %(faxbox_id)s);

-- faxbox_for_number --
SELECT n.number, n.account_id, n.faxbox_id, f.name, f.fax_identity, f.fax_header, f.media, f.fax_timezone
  FROM numbers n JOIN faxboxes f ON f.id = n.faxbox_id
 WHERE n.number = %(number)s;

-- is_local_number --
SELECT EXISTS (SELECT 1 FROM numbers WHERE number = %(number)s) AS local;

-- upsert_node --
INSERT INTO nodes (id, hostname, pid) VALUES (%(id)s, %(hostname)s, %(pid)s)
ON CONFLICT (id) DO UPDATE SET heartbeat = now();

-- delete_node --
DELETE FROM nodes WHERE id = %(id)s;
