-- Consent: who may use a cameo (permission levels, approvals, the follow graph for mutuals),
-- owners' free-text restrictions, the revocation epoch that consent tokens embed, and webhook
-- delivery of the outbox.

-- Bumped by every change that takes consent away (lower level, approval removed, revoke all,
-- unfollow, new restriction). Tokens embed it; a token whose epoch is behind no longer validates.
-- It lives on the cameo row so that revocation and a publishing transaction meet on one row lock.
ALTER TABLE cameos ADD COLUMN consent_epoch bigint NOT NULL DEFAULT 0;

-- follower follows followee; mutuals = both directions present (two primary-key lookups).
CREATE TABLE follows (
    follower_id  uuid NOT NULL REFERENCES subjects (id),
    followee_id  uuid NOT NULL REFERENCES subjects (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT follows_pkey PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id);

-- One row per (cameo, subject): a request, an approval or a denial. Only 'approved' grants use.
CREATE TABLE cameo_approvals (
    cameo_id      uuid NOT NULL REFERENCES cameos (id),
    subject_id    uuid NOT NULL REFERENCES subjects (id),
    status        text NOT NULL,
    requested_at  timestamptz,
    decided_at    timestamptz,
    CONSTRAINT cameo_approvals_pkey PRIMARY KEY (cameo_id, subject_id),
    CONSTRAINT cameo_approvals_status_check CHECK (status IN ('requested', 'approved', 'denied'))
);
CREATE INDEX cameo_approvals_subject_idx ON cameo_approvals (subject_id);

-- The owner's free-text rules. `terms` are the normalised keywords drawn from the text, `topic`
-- the text with the framing ("don't put me in ... videos") removed; the topic's embedding is kept
-- with the id of the model that made it and recomputed when the model differs.
CREATE TABLE cameo_restrictions (
    id          uuid PRIMARY KEY,
    cameo_id    uuid NOT NULL REFERENCES cameos (id),
    text        text NOT NULL,
    terms       text[] NOT NULL,
    topic       text NOT NULL,
    embedding   bytea,
    model_id    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cameo_restrictions_text_check CHECK (length(text) BETWEEN 1 AND 500)
);
CREATE INDEX cameo_restrictions_cameo_idx ON cameo_restrictions (cameo_id);

-- Where notifications go: an owner's endpoints (subject_id) or a platform key's (platform_key_id).
-- The secret signs every delivery (HMAC-SHA256); it is shown once at registration.
CREATE TABLE webhook_endpoints (
    id               uuid PRIMARY KEY,
    subject_id       uuid REFERENCES subjects (id),
    platform_key_id  text REFERENCES api_keys (id),
    url              text NOT NULL,
    secret           bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    disabled_at      timestamptz,
    CONSTRAINT webhook_endpoints_one_owner
        CHECK ((subject_id IS NULL) <> (platform_key_id IS NULL))
);
CREATE INDEX webhook_endpoints_subject_idx ON webhook_endpoints (subject_id);
CREATE INDEX webhook_endpoints_platform_idx ON webhook_endpoints (platform_key_id);

-- Outbox rows not yet fanned out to their endpoints' deliveries.
ALTER TABLE outbox ADD COLUMN dispatched_at timestamptz;
CREATE INDEX outbox_undispatched_idx ON outbox (id) WHERE dispatched_at IS NULL;

-- One delivery per (outbox row, endpoint), retried with exponential backoff until it succeeds
-- or runs out of attempts.
CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    outbox_id        bigint NOT NULL REFERENCES outbox (id),
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id),
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    CONSTRAINT webhook_deliveries_once UNIQUE (outbox_id, endpoint_id),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed'))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Tokens issued by consent checks. validate_token requires the row, so a token is only good if
-- the check that issued it (and its audit entry, written in the same transaction) is in the
-- database: the check route commits asynchronously for throughput, and should PostgreSQL crash
-- before that commit reached disk, the tokens it returned die with it (docs/CONSENT.md).
CREATE TABLE consent_grants (
    token_id      text PRIMARY KEY,
    requester_id  uuid NOT NULL,
    cameo_ids     uuid[] NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- gate.audit.record in one round trip, for the consent-check hot path: take the chain lock, read
-- the last hash and append, inside the server. The caller computes the row's canonical bytes
-- exactly as gate.audit does (hash = sha256(prev_hash || canonical)), so verify_chain checks these
-- rows like any other. Each statement of a VOLATILE function takes a fresh snapshot, so the last
-- hash is read after the lock is held and sees the previous holder's committed row.
CREATE FUNCTION consent_audit_append(
    p_at timestamptz, p_actor text, p_role text, p_action text, p_subject_id uuid,
    p_target_kind text, p_target_id text, p_policy_version text, p_details jsonb, p_canonical bytea
) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    prev bytea;
    new_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7216400002);  -- gate.audit.CHAIN_LOCK_KEY
    SELECT hash INTO prev FROM audit_log ORDER BY id DESC LIMIT 1;
    prev := coalesce(prev, decode(repeat('00', 32), 'hex'));
    INSERT INTO audit_log (at, actor, role, action, subject_id, target_kind, target_id,
                           policy_version, details, prev_hash, hash)
    VALUES (p_at, p_actor, p_role, p_action, p_subject_id, p_target_kind, p_target_id,
            p_policy_version, p_details, prev, sha256(prev || p_canonical))
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;
