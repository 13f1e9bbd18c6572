-- Broadcasts: the jobs of one batch (doc.batch_id) found without scanning the account's jobs.
CREATE INDEX jobs_batch_idx ON jobs (account_id, (doc->>'batch_id')) WHERE doc ? 'batch_id';
