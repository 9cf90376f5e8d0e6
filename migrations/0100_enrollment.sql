-- Cameo enrollment: liveness challenges, verified captures (checks and outcome, never biometrics),
-- replay fingerprints, and the review queue for duplicate or protected likenesses.

CREATE TABLE enrollment_challenges (
    id          uuid PRIMARY KEY,
    cameo_id    uuid NOT NULL,
    moves       text[] NOT NULL,
    digits      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CONSTRAINT enrollment_challenges_cameo_fk FOREIGN KEY (cameo_id) REFERENCES cameos (id),
    CONSTRAINT enrollment_challenges_digits_check CHECK (digits ~ '^[0-9]+$')
);
CREATE INDEX enrollment_challenges_cameo_idx ON enrollment_challenges (cameo_id, created_at);

-- One row per capture that reached verification (refused uploads leave nothing behind).
-- sha256 stays after deletion: it says nothing about the person and keeps replay protection.
CREATE TABLE enrollment_captures (
    id              uuid PRIMARY KEY,
    cameo_id        uuid NOT NULL,
    challenge_id    uuid,
    sha256          text NOT NULL,
    media_digest    text,               -- content-store digest while the raw capture is kept
    outcome         text NOT NULL,
    reason          text,
    checks          jsonb NOT NULL,
    model_ids       jsonb NOT NULL,
    policy_version  text NOT NULL,
    elapsed_ms      integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT enrollment_captures_cameo_fk FOREIGN KEY (cameo_id) REFERENCES cameos (id),
    CONSTRAINT enrollment_captures_challenge_fk
        FOREIGN KEY (challenge_id) REFERENCES enrollment_challenges (id),
    CONSTRAINT enrollment_captures_outcome_check CHECK (outcome IN ('verified', 'rejected', 'review'))
);
CREATE INDEX enrollment_captures_cameo_idx ON enrollment_captures (cameo_id, created_at);
CREATE INDEX enrollment_captures_sha_idx ON enrollment_captures (sha256);

-- PDQ hashes of a few sampled frames per capture, for near-duplicate replay detection.
-- Derived from face images, so they are purged with the cameo.
CREATE TABLE enrollment_fingerprints (
    capture_id  uuid NOT NULL,
    cameo_id    uuid NOT NULL,
    pdq         bytea NOT NULL,
    CONSTRAINT enrollment_fingerprints_capture_fk
        FOREIGN KEY (capture_id) REFERENCES enrollment_captures (id),
    CONSTRAINT enrollment_fingerprints_pdq_len CHECK (octet_length(pdq) = 32)
);
CREATE INDEX enrollment_fingerprints_cameo_idx ON enrollment_fingerprints (cameo_id);

-- Captures whose face matches another subject's verified cameo or a protected person.
CREATE TABLE enrollment_reviews (
    id               uuid PRIMARY KEY,
    cameo_id         uuid NOT NULL,
    capture_id       uuid NOT NULL,
    reason           text NOT NULL,
    match_kind       text NOT NULL,     -- 'cameo' or 'protected_person'
    match_ref        uuid NOT NULL,
    score            real NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    resolution       text,
    CONSTRAINT enrollment_reviews_cameo_fk FOREIGN KEY (cameo_id) REFERENCES cameos (id),
    CONSTRAINT enrollment_reviews_capture_fk
        FOREIGN KEY (capture_id) REFERENCES enrollment_captures (id),
    CONSTRAINT enrollment_reviews_reason_check
        CHECK (reason IN ('face_already_enrolled', 'protected_person'))
);
CREATE INDEX enrollment_reviews_open_idx ON enrollment_reviews (created_at) WHERE resolved_at IS NULL;
