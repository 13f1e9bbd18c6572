-- SMTP AUTH per faxbox: the password's scrypt hash (never the password) and whether mail to
-- the faxbox must come from a session authenticated with it.
ALTER TABLE faxboxes ADD COLUMN smtp_auth_hash text;
ALTER TABLE faxboxes ADD COLUMN smtp_auth_required boolean NOT NULL DEFAULT false;
