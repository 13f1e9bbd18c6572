-- Retention: each statement takes one batch (LIMIT %(batch)s, rows other sweepers hold are
-- skipped) so a sweep never holds many locks or long transactions on the hot tables. The days
-- come from the faxbox's document, else the account's fax_policy, else the server's setting
-- (%(documents_days)s, %(purge_days)s); -1 keeps. %(now)s is the sweeper's clock.

-- retention_job_documents --
DELETE FROM documents d
 WHERE d.id IN (
   SELECT d2.id FROM documents d2
     JOIN jobs j ON j.id = d2.job_id
     JOIN accounts a ON a.id = j.account_id
     LEFT JOIN faxboxes f ON f.id = j.faxbox_id
    WHERE j.status IN ('completed', 'failed', 'cancelled') AND j.delivered IS NOT NULL
      AND faxd_retention_due(j.delivered, %(now)s,
                             coalesce((f.doc->>'retention_documents_days')::int,
                                      (a.fax_policy->>'retention_documents_days')::int, %(documents_days)s))
    LIMIT %(batch)s FOR UPDATE OF d2 SKIP LOCKED)
RETURNING d.id;

-- retention_inbox_documents --
DELETE FROM documents d
 WHERE d.id IN (
   SELECT d2.id FROM documents d2
     JOIN inbox i ON i.id = d2.inbox_id
     JOIN accounts a ON a.id = i.account_id
     LEFT JOIN faxboxes f ON f.id = i.faxbox_id
    WHERE faxd_retention_due(i.created, %(now)s,
                             coalesce((f.doc->>'retention_documents_days')::int,
                                      (a.fax_policy->>'retention_documents_days')::int, %(documents_days)s))
    LIMIT %(batch)s FOR UPDATE OF d2 SKIP LOCKED)
RETURNING d.id;

-- retention_jobs --
-- The whole job: its documents and attempts go with it (ON DELETE CASCADE).
DELETE FROM jobs x
 WHERE x.id IN (
   SELECT j.id FROM jobs j
     JOIN accounts a ON a.id = j.account_id
     LEFT JOIN faxboxes f ON f.id = j.faxbox_id
    WHERE j.status IN ('completed', 'failed', 'cancelled') AND j.delivered IS NOT NULL
      AND faxd_retention_due(j.delivered, %(now)s,
                             coalesce((f.doc->>'retention_purge_days')::int,
                                      (a.fax_policy->>'retention_purge_days')::int, %(purge_days)s))
    LIMIT %(batch)s FOR UPDATE OF j SKIP LOCKED)
RETURNING x.id;

-- retention_inbox --
DELETE FROM inbox x
 WHERE x.id IN (
   SELECT i.id FROM inbox i
     JOIN accounts a ON a.id = i.account_id
     LEFT JOIN faxboxes f ON f.id = i.faxbox_id
    WHERE faxd_retention_due(i.created, %(now)s,
                             coalesce((f.doc->>'retention_purge_days')::int,
                                      (a.fax_policy->>'retention_purge_days')::int, %(purge_days)s))
    LIMIT %(batch)s FOR UPDATE OF i SKIP LOCKED)
RETURNING x.id;
