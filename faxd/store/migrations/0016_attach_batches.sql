-- Preparation in batches: one call claims up to a node's free slots (p_limit), each chosen as
-- a single claim would choose it. Nodes still calling with two arguments claim one.
DROP FUNCTION faxd_claim_attaching(text, double precision);

-- Documents to prepare, shared fairly between accounts: a conversion whose node stopped (its
-- lease expired) first, then the account with the fewest documents being prepared, then the
-- one whose turn is oldest (so one slot alternates between accounts), oldest job first within it.
-- Up to p_limit documents in one call (a node's free slots): each is chosen as a claim of its
-- own would choose it, after the ones before it are counted as being prepared, so a batch
-- alternates between accounts as single claims do and costs one round trip. Cost: the accounts
-- with documents waiting, not the documents. Returned in the order chosen, with what the
-- preparation needs (the account's paper, the uploaded originals in order), so that a fax-ready
-- document costs its share of the claim and of the transaction that stores the results.
CREATE FUNCTION faxd_claim_attaching(p_node text, p_lease double precision, p_limit integer DEFAULT 1)
RETURNS TABLE (id text, account_id text, faxbox_id text, doc jsonb, created timestamptz, paper text,
               originals bytea[], original_types text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id text;
    v_account text;
    v_ids text[] := '{}';
BEGIN
    FOR i IN 1 .. p_limit LOOP
        v_id := NULL;
        SELECT j.id INTO v_id FROM jobs j
         WHERE j.status = 'attaching_files' AND j.lease_expires IS NOT NULL AND j.lease_expires < now()
         ORDER BY j.lease_expires
         LIMIT 1
         FOR UPDATE OF j SKIP LOCKED;
        IF v_id IS NULL THEN
            FOR v_account IN
                WITH RECURSIVE waiting(account_id) AS (
                    (SELECT w.account_id FROM jobs w WHERE w.status = 'attaching_files' AND w.lease_expires IS NULL
                      ORDER BY w.account_id LIMIT 1)
                    UNION ALL
                    SELECT (SELECT w.account_id FROM jobs w
                             WHERE w.status = 'attaching_files' AND w.lease_expires IS NULL
                               AND w.account_id > waiting.account_id
                             ORDER BY w.account_id LIMIT 1)
                      FROM waiting WHERE waiting.account_id IS NOT NULL
                ), converting AS (
                    SELECT c.account_id, count(*) AS n FROM jobs c
                     WHERE c.status = 'attaching_files' AND c.lease_expires IS NOT NULL
                     GROUP BY c.account_id
                )
                SELECT w.account_id
                  FROM waiting w
                  LEFT JOIN converting c ON c.account_id = w.account_id
                  LEFT JOIN attach_turns t ON t.account_id = w.account_id
                 CROSS JOIN LATERAL (SELECT o.created FROM jobs o
                                      WHERE o.status = 'attaching_files' AND o.lease_expires IS NULL
                                        AND o.account_id = w.account_id
                                      ORDER BY o.created LIMIT 1) o
                 WHERE w.account_id IS NOT NULL
                 ORDER BY coalesce(c.n, 0), t.last_claim NULLS FIRST, o.created
            LOOP
                SELECT j.id INTO v_id FROM jobs j
                 WHERE j.status = 'attaching_files' AND j.lease_expires IS NULL AND j.account_id = v_account
                 ORDER BY j.created
                 LIMIT 1
                 FOR UPDATE OF j SKIP LOCKED;
                IF v_id IS NOT NULL THEN
                    INSERT INTO attach_turns AS t (account_id, last_claim) VALUES (v_account, clock_timestamp())
                    ON CONFLICT (account_id) DO UPDATE SET last_claim = EXCLUDED.last_claim;
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        EXIT WHEN v_id IS NULL;
        -- Leased at once: the next choice counts it among the documents being prepared.
        UPDATE jobs j SET lease_owner = p_node, lease_expires = now() + make_interval(secs => p_lease),
               modified = now()
         WHERE j.id = v_id;
        v_ids := v_ids || v_id;
    END LOOP;
    RETURN QUERY
    SELECT j.id, j.account_id, j.faxbox_id, j.doc, j.created, a.paper,
           coalesce(o.data, '{}'), coalesce(o.types, '{}')
      FROM unnest(v_ids) WITH ORDINALITY AS c(id, n)
      JOIN jobs j ON j.id = c.id
      JOIN accounts a ON a.id = j.account_id
     CROSS JOIN LATERAL (SELECT array_agg(d.data ORDER BY d.seq) AS data,
                                array_agg(d.content_type ORDER BY d.seq) AS types
                           FROM documents d WHERE d.job_id = j.id AND d.role = 'original') o
     ORDER BY c.n;
END;
$$;
