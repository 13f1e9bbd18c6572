-- Preparation in batches: one call claims up to a node's free slots (p_limit), shared between
-- the accounts as that many single claims would share them. Nodes still calling with two
-- arguments claim one.
DROP FUNCTION faxd_claim_attaching(text, double precision);

-- Documents to prepare, shared fairly between accounts: a conversion whose node stopped (its
-- lease expired) first, then the account with the fewest documents being prepared, then the
-- one whose turn is oldest (so one slot alternates between accounts), oldest job first within it.
-- Up to p_limit documents in one call (a node's free slots), shared out as that many claims in a
-- row would share them (each taken counts as being prepared, and its account's turn is then the
-- newest), from one look at the accounts waiting: a batch costs one round trip and one pass over
-- the accounts, not one per document. Cost: the accounts with documents waiting, not the
-- documents. Returned with what the preparation needs (the account's paper, the uploaded
-- originals in order), so that a fax-ready document costs its share of the claim and of the
-- transaction that stores the results.
CREATE FUNCTION faxd_claim_attaching(p_node text, p_lease double precision, p_limit integer DEFAULT 1)
RETURNS TABLE (id text, account_id text, faxbox_id text, doc jsonb, created timestamptz, paper text,
               originals bytea[], original_types text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids text[];
    v_got text[];
    v_accounts text[];
    v_counts integer[];   -- documents being prepared per account, the ones taken here included
    v_turns integer[];    -- order of the accounts' turns: oldest first, a turn taken here is the newest
    v_wanted integer[];
    v_open boolean[];     -- the account may still have documents free to take
    v_turn integer;
    v_best integer;
    v_left integer;
    n integer;
BEGIN
    SELECT coalesce(array_agg(x.id ORDER BY x.lease_expires), '{}') INTO v_ids
      FROM (SELECT j.id, j.lease_expires FROM jobs j
             WHERE j.status = 'attaching_files' AND j.lease_expires IS NOT NULL AND j.lease_expires < now()
             ORDER BY j.lease_expires
             LIMIT greatest(p_limit, 0)
             FOR UPDATE OF j SKIP LOCKED) x;
    v_left := p_limit - cardinality(v_ids);
    IF v_left > 0 THEN
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
        ), ordered AS (
            SELECT w.account_id, coalesce(c.n, 0)::integer AS n,
                   row_number() OVER (ORDER BY t.last_claim NULLS FIRST, o.created)::integer AS turn
              FROM waiting w
              LEFT JOIN converting c ON c.account_id = w.account_id
              LEFT JOIN attach_turns t ON t.account_id = w.account_id
             CROSS JOIN LATERAL (SELECT o.created FROM jobs o
                                  WHERE o.status = 'attaching_files' AND o.lease_expires IS NULL
                                    AND o.account_id = w.account_id
                                  ORDER BY o.created LIMIT 1) o
             WHERE w.account_id IS NOT NULL
        )
        SELECT array_agg(account_id ORDER BY turn), array_agg(n ORDER BY turn), array_agg(turn ORDER BY turn)
          INTO v_accounts, v_counts, v_turns FROM ordered;
        v_turn := coalesce(cardinality(v_accounts), 0);
        v_open := array_fill(true, ARRAY[v_turn]);
        WHILE v_left > 0 AND v_turn > 0 LOOP
            -- Share the documents left as claims in a row would: each to the account with the
            -- fewest being prepared, then the oldest turn.
            v_wanted := array_fill(0, ARRAY[cardinality(v_accounts)]);
            FOR k IN 1 .. v_left LOOP
                v_best := NULL;
                FOR a IN 1 .. cardinality(v_accounts) LOOP
                    IF v_open[a] AND (v_best IS NULL OR v_counts[a] < v_counts[v_best]
                                      OR (v_counts[a] = v_counts[v_best] AND v_turns[a] < v_turns[v_best])) THEN
                        v_best := a;
                    END IF;
                END LOOP;
                EXIT WHEN v_best IS NULL;
                v_wanted[v_best] := v_wanted[v_best] + 1;
                v_counts[v_best] := v_counts[v_best] + 1;
                v_turn := v_turn + 1;
                v_turns[v_best] := v_turn;
            END LOOP;
            EXIT WHEN v_best IS NULL AND v_wanted = array_fill(0, ARRAY[cardinality(v_accounts)]);
            -- Take them (oldest first per account; what another node holds is skipped). An account
            -- with fewer free than wanted is done: the shortfall goes round again to the others.
            FOR a IN 1 .. cardinality(v_accounts) LOOP
                CONTINUE WHEN v_wanted[a] = 0;
                SELECT coalesce(array_agg(x.id ORDER BY x.created), '{}') INTO v_got
                  FROM (SELECT j.id, j.created FROM jobs j
                         WHERE j.status = 'attaching_files' AND j.lease_expires IS NULL
                           AND j.account_id = v_accounts[a] AND j.id <> ALL(v_ids)
                         ORDER BY j.created
                         LIMIT v_wanted[a]
                         FOR UPDATE OF j SKIP LOCKED) x;
                v_ids := v_ids || v_got;
                n := cardinality(v_got);
                IF n < v_wanted[a] THEN
                    v_open[a] := false;
                    v_counts[a] := v_counts[a] - (v_wanted[a] - n);
                END IF;
            END LOOP;
            v_left := p_limit - cardinality(v_ids);
            EXIT WHEN NOT (true = ANY(v_open));
        END LOOP;
        -- The turns taken, oldest first, so that the next claim sees them in the same order.
        IF v_accounts IS NOT NULL THEN
            INSERT INTO attach_turns AS t (account_id, last_claim)
            SELECT u.account_id, clock_timestamp() + (row_number() OVER (ORDER BY u.turn)) * interval '1 microsecond'
              FROM unnest(v_accounts, v_turns) AS u(account_id, turn)
             WHERE u.turn > cardinality(v_accounts)
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = ANY(v_ids) AND j.account_id = u.account_id)
            ON CONFLICT (account_id) DO UPDATE SET last_claim = EXCLUDED.last_claim;
        END IF;
    END IF;
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH claimed AS (
        UPDATE jobs j SET lease_owner = p_node, lease_expires = now() + make_interval(secs => p_lease),
               modified = now()
         WHERE j.id = ANY(v_ids)
        RETURNING j.id, j.account_id, j.faxbox_id, j.doc, j.created
    )
    SELECT c.id, c.account_id, c.faxbox_id, c.doc, c.created, a.paper,
           coalesce(o.data, '{}'), coalesce(o.types, '{}')
      FROM claimed c
      JOIN accounts a ON a.id = c.account_id
     CROSS JOIN LATERAL (SELECT array_agg(d.data ORDER BY d.seq) AS data,
                                array_agg(d.content_type ORDER BY d.seq) AS types
                           FROM documents d WHERE d.job_id = c.id AND d.role = 'original') o;
END;
$$;
