-- The check route's group commit (migration 0202) with its batch sent as one jsonb document
-- instead of eleven parallel arrays (issue #4; docs/CONSENT.md, the hot path). psycopg adapts
-- array parameters element by element in Python, in the event loop that serves every request:
-- on the benchmark's host that adaptation took ~170 us per batch of two checks (jsonb[], bytea[]
-- and timestamptz[] elements above all), against ~20 us to serialise the same batch as one
-- document. Same rows, same order, same hashes, same lock and same asynchronous commit as
-- consent_record_checks, which this replaces:
--   {"grants":  [{token_id, requester_id, cameo_ids, expires_at}, ...],
--    "entries": [{at, actor, role, action, subject_id, target_kind, target_id, policy_version,
--                 details, canonical}, ...]}
-- `details` is the entry's details object; `canonical` is base64 of the canonical bytes
-- gate.audit computes (exact bytes, whatever the database's encoding), chained in array order.
CREATE FUNCTION consent_record_check_batch(p_batch jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n integer := 0;
    prev bytea;
    next_hash bytea;
    e jsonb;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);

    INSERT INTO consent_grants (token_id, requester_id, cameo_ids, expires_at)
    SELECT g.token_id, g.requester_id, g.cameo_ids, g.expires_at
    FROM jsonb_to_recordset(p_batch->'grants')
         AS g(token_id text, requester_id uuid, cameo_ids uuid[], expires_at timestamptz);

    IF jsonb_array_length(p_batch->'entries') = 0 THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(7216400002);  -- gate.audit.CHAIN_LOCK_KEY
    SELECT hash INTO prev FROM audit_log ORDER BY id DESC LIMIT 1;
    prev := coalesce(prev, decode(repeat('00', 32), 'hex'));
    -- One INSERT per entry, in array order, so ids follow the chain (as in 0202).
    FOR e IN SELECT x.value FROM jsonb_array_elements(p_batch->'entries') WITH ORDINALITY AS x
             ORDER BY x.ordinality
    LOOP
        next_hash := sha256(prev || decode(e->>'canonical', 'base64'));
        INSERT INTO audit_log (at, actor, role, action, subject_id, target_kind, target_id,
                               policy_version, details, prev_hash, hash)
        VALUES ((e->>'at')::timestamptz, e->>'actor', e->>'role', e->>'action',
                (e->>'subject_id')::uuid, e->>'target_kind', e->>'target_id',
                e->>'policy_version', e->'details', prev, next_hash);
        prev := next_hash;
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;

DROP FUNCTION consent_record_checks(jsonb, timestamptz[], text[], text[], text[], uuid[], text[],
                                    text[], text[], jsonb[], bytea[]);
