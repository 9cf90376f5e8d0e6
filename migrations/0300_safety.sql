-- Safety: rights holders' opt-outs, their reference media (derived features only), the change
-- feed the FAISS indexes follow, match records, and disputes.

CREATE TABLE optouts (
    id               uuid PRIMARY KEY,
    organisation_id  uuid NOT NULL REFERENCES organisations (id),
    title            text NOT NULL,
    names            text[] NOT NULL DEFAULT '{}',
    keywords         text[] NOT NULL DEFAULT '{}',
    description      text NOT NULL DEFAULT '',
    action           text NOT NULL DEFAULT 'block',
    territories      text[] NOT NULL DEFAULT '{}',
    notes            text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'active',
    status_reason    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT optouts_action_check CHECK (action IN ('block', 'flag')),
    CONSTRAINT optouts_status_check CHECK (status IN ('active', 'withdrawn', 'suspended'))
);
CREATE INDEX optouts_org_idx ON optouts (organisation_id);

-- One row per reference image or sampled video frame. The media bytes live in the content
-- store (sha256); the features the indexes need are stored here so any process can rebuild.
CREATE TABLE optout_references (
    id          uuid PRIMARY KEY,
    optout_id   uuid NOT NULL REFERENCES optouts (id),
    sha256      text NOT NULL,
    frame_time  double precision,
    width       integer NOT NULL,
    height      integer NOT NULL,
    pdq         bytea NOT NULL,          -- 8 dihedral PDQ hashes, 32 bytes each
    pdq_quality integer NOT NULL,
    keypoints   bytea NOT NULL,          -- float32 (n, 2) x, y in reference pixels
    descriptors bytea NOT NULL,          -- uint8 (n, 128) SIFT
    features_model text NOT NULL,        -- the extractor that made keypoints/descriptors
    clip        bytea,                   -- float32 (dim,) when a CLIP model was configured
    clip_model  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT optout_references_pdq_len CHECK (length(pdq) = 256)
);
CREATE INDEX optout_references_optout_idx ON optout_references (optout_id);

-- The change feed: every insert or update of an opt-out (and every new reference) appends a
-- row; index holders poll `seq > cursor` and also LISTEN on 'safety_optouts' to wake early.
CREATE TABLE optout_changes (
    seq        bigserial PRIMARY KEY,
    optout_id  uuid NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION optout_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid;
BEGIN
    IF TG_TABLE_NAME = 'optouts' THEN
        changed := NEW.id;
    ELSE
        changed := NEW.optout_id;
    END IF;
    INSERT INTO optout_changes (optout_id) VALUES (changed);
    PERFORM pg_notify('safety_optouts', changed::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER optouts_changed AFTER INSERT OR UPDATE ON optouts
    FOR EACH ROW EXECUTE FUNCTION optout_changed();
CREATE TRIGGER optout_references_changed AFTER INSERT ON optout_references
    FOR EACH ROW EXECUTE FUNCTION optout_changed();

-- Append-only record of every match a scan reported (for match counts and evidence).
CREATE TABLE optout_matches (
    id          bigserial PRIMARY KEY,
    optout_id   uuid NOT NULL REFERENCES optouts (id),
    scan_id     uuid NOT NULL,
    scan_kind   text NOT NULL,
    signal      text NOT NULL,
    score       double precision NOT NULL,
    decision    text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT optout_matches_kind_check CHECK (scan_kind IN ('prompt', 'media'))
);
CREATE INDEX optout_matches_optout_idx ON optout_matches (optout_id);
CREATE INDEX optout_matches_scan_idx ON optout_matches (scan_id);

CREATE TABLE disputes (
    id              uuid PRIMARY KEY,
    optout_id       uuid NOT NULL REFERENCES optouts (id),
    scan_id         uuid,
    filed_by        text NOT NULL,       -- the API key id
    filed_role      text NOT NULL,
    subject_id      uuid REFERENCES subjects (id),
    platform_key_id text,
    reason          text NOT NULL,
    status          text NOT NULL DEFAULT 'open',
    answer          text,
    answered_at     timestamptz,
    decision        text,
    decision_note   text,
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT disputes_status_check CHECK (status IN ('open', 'answered', 'decided')),
    CONSTRAINT disputes_decision_check
        CHECK (decision IS NULL OR decision IN ('upheld', 'rejected', 'optout_suspended'))
);
CREATE INDEX disputes_optout_idx ON disputes (optout_id);
