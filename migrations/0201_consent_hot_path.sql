-- The consent check's two statements as server-side functions (issue #4; docs/CONSENT.md, the
-- hot path). The check route calls both on a connection in autocommit mode, so each statement is
-- its own transaction: two round trips per check, no BEGIN, SET or COMMIT messages.

-- What one decision needs per cameo (consent.store.Facts): index lookups only (cameos pkey,
-- cameo_approvals pkey, follows pkey twice, subjects pkey). As a prepared statement this query
-- was planned again on every execution: PostgreSQL's generic plan assumes ten cameo ids and so
-- looks dearer than a custom plan for the usual one, and planning cost more than running it. In a
-- function with plan_cache_mode = force_generic_plan it is planned once per connection. STABLE:
-- it reads the snapshot of the calling statement, as the plain query did (recheck_for_publish
-- relies on that snapshot being taken after its FOR SHARE statement).
CREATE FUNCTION consent_facts(p_requester uuid, p_cameo_ids uuid[])
RETURNS TABLE (id uuid, owner_id uuid, status text, permission text, consent_epoch bigint,
               approved boolean, mutual boolean, has_restrictions boolean, owner_age_band text,
               requester_age_band text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT c.id, c.owner_id, c.status, c.permission, c.consent_epoch,
           EXISTS (SELECT 1 FROM cameo_approvals a
                   WHERE a.cameo_id = c.id AND a.subject_id = p_requester AND a.status = 'approved')
               AS approved,
           (EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = c.owner_id AND f.followee_id = p_requester)
            AND EXISTS (SELECT 1 FROM follows f
                        WHERE f.follower_id = p_requester AND f.followee_id = c.owner_id)) AS mutual,
           EXISTS (SELECT 1 FROM cameo_restrictions r WHERE r.cameo_id = c.id) AS has_restrictions,
           o.age_band AS owner_age_band,
           (SELECT s.age_band FROM subjects s WHERE s.id = p_requester) AS requester_age_band
    FROM cameos c JOIN subjects o ON o.id = c.owner_id
    WHERE c.id = ANY(p_cameo_ids);
END;
$$;

-- The check's whole write: the grant, when a token was issued, and the audit entry through
-- consent_audit_append (migration 0200), committed together or not at all. The commit is
-- asynchronous (set_config(..., true) lasts until the end of this transaction), for the reasons
-- and with the safeguard docs/CONSENT.md gives: validate_token requires the grant row.
CREATE FUNCTION consent_record_check(
    p_token_id text, p_requester uuid, p_cameo_ids uuid[], p_expires_at timestamptz,
    p_at timestamptz, p_actor text, p_role text, p_action text, p_subject_id uuid,
    p_target_kind text, p_target_id text, p_policy_version text, p_details jsonb, p_canonical bytea
) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    IF p_token_id IS NOT NULL THEN
        INSERT INTO consent_grants (token_id, requester_id, cameo_ids, expires_at)
        VALUES (p_token_id, p_requester, p_cameo_ids, p_expires_at);
    END IF;
    RETURN consent_audit_append(p_at, p_actor, p_role, p_action, p_subject_id, p_target_kind,
                                p_target_id, p_policy_version, p_details, p_canonical);
END;
$$;
