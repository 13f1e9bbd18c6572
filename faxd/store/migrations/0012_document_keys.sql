-- Encryption at rest: the id of the key a document is sealed with (NULL: stored as it is).
ALTER TABLE documents ADD COLUMN key_id text;
