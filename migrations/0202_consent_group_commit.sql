-- Group commit of the check route's writes (issue #4; docs/CONSENT.md, the hot path): one
-- statement, one transaction and one hold of the audit chain's lock for a whole batch of
-- concurrent checks, instead of one each. consent.hotpath.CheckWriter collects the grants and
-- audit entries of the checks waiting to be recorded and calls this once per batch; each check
-- answers its client only after the batch committed, so a token is never returned before its
-- consent_grants row exists (validate_token requires it).
--
-- Same rows, same hashes as consent_record_check (migration 0201) called once per check in the
-- order given: the caller computes each entry's canonical bytes exactly as gate.audit does, and
-- the chain is extended here in array order (hash = sha256(prev_hash || canonical)), so
-- gate.audit.verify_chain checks these rows like any other.
--
-- All or nothing: should any row fail, no check of the batch is recorded, and every one of them
-- gets an error response (none of their tokens exists). The rows are built by the service from
-- validated input, so a failure here is the database's (connection, disk), not one request's.
--
-- Grants arrive as one jsonb array of {token_id, requester_id, cameo_ids, expires_at} (only the
-- checks that issued a token, each with its own number of cameos); audit entries as parallel
-- arrays, one element per check, in the order they are to be chained.
CREATE FUNCTION consent_record_checks(
    p_grants jsonb,
    p_at timestamptz[], p_actor text[], p_role text[], p_action text[], p_subject_id uuid[],
    p_target_kind text[], p_target_id text[], p_policy_version text[], p_details jsonb[],
    p_canonical bytea[]
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n integer := coalesce(array_length(p_canonical, 1), 0);
    prev bytea;
    next_hash bytea;
BEGIN
    -- Asynchronous commit, for this transaction only, as consent_record_check does (the
    -- reasons and the safeguard are in docs/CONSENT.md).
    PERFORM set_config('synchronous_commit', 'off', true);

    -- The grants first: the chain's lock below is then held for the audit rows alone.
    INSERT INTO consent_grants (token_id, requester_id, cameo_ids, expires_at)
    SELECT g.token_id, g.requester_id, g.cameo_ids, g.expires_at
    FROM jsonb_to_recordset(p_grants)
         AS g(token_id text, requester_id uuid, cameo_ids uuid[], expires_at timestamptz);

    IF n = 0 THEN
        RETURN 0;
    END IF;
    -- The lock and the read of the last hash as in consent_audit_append (migration 0200): each
    -- statement of a VOLATILE function takes a fresh snapshot, so the last hash is read after
    -- the lock is held and sees the previous holder's committed row.
    PERFORM pg_advisory_xact_lock(7216400002);  -- gate.audit.CHAIN_LOCK_KEY
    SELECT hash INTO prev FROM audit_log ORDER BY id DESC LIMIT 1;
    prev := coalesce(prev, decode(repeat('00', 32), 'hex'));
    -- One INSERT per entry, in order: ids come from the sequence in the order of the chain
    -- (a single INSERT ... SELECT would not promise that order).
    FOR i IN 1 .. n LOOP
        next_hash := sha256(prev || p_canonical[i]);
        INSERT INTO audit_log (at, actor, role, action, subject_id, target_kind, target_id,
                               policy_version, details, prev_hash, hash)
        VALUES (p_at[i], p_actor[i], p_role[i], p_action[i], p_subject_id[i], p_target_kind[i],
                p_target_id[i], p_policy_version[i], p_details[i], prev, next_hash);
        prev := next_hash;
    END LOOP;
    RETURN n;
END;
$$;
