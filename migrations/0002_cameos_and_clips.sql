-- The two entities most domains refer to: cameos (consent/) and clips (generation/, provenance/).
-- Domains add their own columns and tables in later migrations.

CREATE TABLE cameos (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES subjects (id),
    status       text NOT NULL DEFAULT 'pending',
    permission   text NOT NULL DEFAULT 'only_me',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    verified_at  timestamptz,
    deleted_at   timestamptz,
    CONSTRAINT cameos_status_check
        CHECK (status IN ('pending', 'verified', 'rejected', 'review', 'deleted')),
    CONSTRAINT cameos_permission_check
        CHECK (permission IN ('only_me', 'approved', 'mutuals', 'everyone'))
);
CREATE INDEX cameos_owner_idx ON cameos (owner_id);

CREATE TABLE clips (
    id              uuid PRIMARY KEY,
    status          text NOT NULL DEFAULT 'draft',
    requester_id    uuid REFERENCES subjects (id),
    platform_key_id text,
    media_sha256    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    removed_at      timestamptz,
    removed_by      uuid REFERENCES subjects (id),
    removal_reason  text,
    CONSTRAINT clips_status_check CHECK (status IN ('draft', 'published', 'removed', 'blocked'))
);

-- Every cameo owner featured in a clip co-owns it.
CREATE TABLE clip_coowners (
    clip_id   uuid NOT NULL REFERENCES clips (id),
    cameo_id  uuid NOT NULL REFERENCES cameos (id),
    owner_id  uuid NOT NULL REFERENCES subjects (id),
    PRIMARY KEY (clip_id, cameo_id)
);
CREATE INDEX clip_coowners_cameo_idx ON clip_coowners (cameo_id);
CREATE INDEX clip_coowners_owner_idx ON clip_coowners (owner_id);
