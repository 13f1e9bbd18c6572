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
SELECT account_id FROM api_keys WHERE key_hash = %(key_hash)s AND revoked IS NULL;

-- create_auth_token --
INSERT INTO auth_tokens (token_hash, account_id, expires)
VALUES (%(token_hash)s, %(account_id)s, now() + make_interval(secs => %(ttl)s))
RETURNING expires;

-- account_for_token --
SELECT account_id, expires FROM auth_tokens WHERE token_hash = %(token_hash)s AND expires > now();

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
