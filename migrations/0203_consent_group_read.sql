-- Group read of the check route's facts (issue #4; docs/CONSENT.md, the hot path): the reads of
-- several concurrent checks in one statement, as their writes are (migration 0202). A check
-- costs the server mostly its statements' round trips (a send to the database and the wake-up
-- for its answer), so consent.hotpath.FactsReader sends every read waiting with one call of
-- this function; a check whose read is queued while another batch is in the database goes in
-- the next one.
--
-- Exactly consent_facts (migration 0201) for each (request, requester, cameo) triple: the rows of
-- request k are those consent_facts(requester_k, cameo ids_k) returns, tagged `request` = k. The
-- statement starts after every read in it was queued, so each sees every revocation committed
-- before its check asked (no check reads an older state than it would alone). STABLE, one
-- snapshot for the whole batch; planned once per connection, as consent_facts is, because the
-- plan (index lookups per triple) does not depend on how many there are.
CREATE FUNCTION consent_facts_many(p_request integer[], p_requester uuid[], p_cameo_id uuid[])
RETURNS TABLE (request integer, id uuid, owner_id uuid, status text, permission text,
               consent_epoch bigint, approved boolean, mutual boolean, has_restrictions boolean,
               owner_age_band text, requester_age_band text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT q.request, c.id, c.owner_id, c.status, c.permission, c.consent_epoch,
           EXISTS (SELECT 1 FROM cameo_approvals a
                   WHERE a.cameo_id = c.id AND a.subject_id = q.requester AND a.status = 'approved')
               AS approved,
           (EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = c.owner_id AND f.followee_id = q.requester)
            AND EXISTS (SELECT 1 FROM follows f
                        WHERE f.follower_id = q.requester AND f.followee_id = c.owner_id)) AS mutual,
           EXISTS (SELECT 1 FROM cameo_restrictions r WHERE r.cameo_id = c.id) AS has_restrictions,
           o.age_band AS owner_age_band,
           (SELECT s.age_band FROM subjects s WHERE s.id = q.requester) AS requester_age_band
    FROM unnest(p_request, p_requester, p_cameo_id) AS q(request, requester, cameo_id)
    JOIN cameos c ON c.id = q.cameo_id
    JOIN subjects o ON o.id = c.owner_id;
END;
$$;
