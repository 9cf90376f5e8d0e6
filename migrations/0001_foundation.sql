-- Foundation: organisations, subjects, API keys, the hash-chained audit log.

CREATE TABLE organisations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organisations_name_key UNIQUE (name)
);

-- A subject is a person known to cameogate (a cameo owner, a requester). No names or contact
-- data: the platform's own user id is kept as an opaque external reference.
CREATE TABLE subjects (
    id           uuid PRIMARY KEY,
    external_ref text,
    age_band     text NOT NULL DEFAULT 'adult',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subjects_age_band_check CHECK (age_band IN ('minor', 'adult')),
    CONSTRAINT subjects_external_ref_key UNIQUE (external_ref)
);

-- Keys are "cg_<id>_<secret>"; only sha256(secret) is kept. The secret is 32 random bytes, so a
-- fast hash is enough (no dictionary to attack); the id makes lookup an index hit.
CREATE TABLE api_keys (
    id               text PRIMARY KEY,
    secret_sha256    bytea NOT NULL,
    role             text NOT NULL,
    subject_id       uuid REFERENCES subjects (id),
    organisation_id  uuid REFERENCES organisations (id),
    label            text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    CONSTRAINT api_keys_role_check
        CHECK (role IN ('platform', 'user', 'rights_holder', 'auditor', 'admin')),
    CONSTRAINT api_keys_user_has_subject CHECK (role <> 'user' OR subject_id IS NOT NULL),
    CONSTRAINT api_keys_rights_holder_has_org
        CHECK (role <> 'rights_holder' OR organisation_id IS NOT NULL)
);

-- Append-only, hash-chained: hash = sha256(prev_hash || canonical JSON of the row's content).
-- The database itself refuses UPDATE, DELETE and TRUNCATE; `cameogate audit verify` recomputes
-- the chain. Never holds biometric data.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    role            text NOT NULL,
    action          text NOT NULL,
    subject_id      uuid,
    target_kind     text,
    target_id       text,
    policy_version  text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    CONSTRAINT audit_log_hash_key UNIQUE (hash)
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
