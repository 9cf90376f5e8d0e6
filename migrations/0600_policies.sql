-- policies/: stored policy versions and their activations, quota counters, protected people.

-- Every policy document ever applied, once per version. A version names one content forever:
-- re-using it for different content is refused (409) by the service.
CREATE TABLE policy_versions (
    version     text PRIMARY KEY,
    sha256      text NOT NULL,          -- of the canonical validated document
    source      text NOT NULL,          -- the YAML text as applied
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    CONSTRAINT policy_versions_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$')
);

-- Append-only history of which version was made active, when and by whom. The active policy is
-- the latest row; re-applying an older version (a rollback) adds a row.
CREATE TABLE policy_activations (
    id            bigserial PRIMARY KEY,
    version       text NOT NULL,
    activated_at  timestamptz NOT NULL DEFAULT now(),
    activated_by  text NOT NULL,
    CONSTRAINT policy_activations_version_fkey FOREIGN KEY (version) REFERENCES policy_versions (version)
);

-- Every process LISTENs on this channel and reloads the active policy when told (it also polls,
-- in case a notification is lost with a dropped connection). Notifications are sent on commit.
CREATE FUNCTION policy_activation_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cameogate_policy', NEW.version);
    RETURN NEW;
END;
$$;

CREATE TRIGGER policy_activations_notify AFTER INSERT ON policy_activations
    FOR EACH ROW EXECUTE FUNCTION policy_activation_notify();

-- Fixed-window usage counters: one row per (scope, key, kind, window). Incremented with an atomic
-- UPSERT that refuses to pass the limit, so concurrent processes never overshoot.
CREATE TABLE quota_counters (
    scope         text NOT NULL,          -- 'subject' or 'platform_key'
    scope_id      text NOT NULL,          -- subjects.id or api_keys.id
    kind          text NOT NULL,          -- 'generation', 'consent_check', ...
    window_secs   integer NOT NULL,
    window_start  timestamptz NOT NULL,
    used          integer NOT NULL,
    CONSTRAINT quota_counters_pkey PRIMARY KEY (scope, scope_id, kind, window_secs, window_start),
    CONSTRAINT quota_counters_scope_check CHECK (scope IN ('subject', 'platform_key')),
    CONSTRAINT quota_counters_used_check CHECK (used >= 0)
);
CREATE INDEX quota_counters_window_idx ON quota_counters (window_start);

-- Public figures who may not be generated except through their own consented cameo. Their
-- reference faces are encrypted templates (templates.owner_kind = 'protected_person').
CREATE TABLE protected_people (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    aliases     text[] NOT NULL DEFAULT '{}',
    subject_id  uuid,                       -- the person's own subject, when they have one
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT protected_people_subject_fkey FOREIGN KEY (subject_id) REFERENCES subjects (id),
    CONSTRAINT protected_people_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT protected_people_name_key UNIQUE (name)
);
