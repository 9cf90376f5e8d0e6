-- Generation jobs: the PostgreSQL-backed queue (claimed with FOR UPDATE SKIP LOCKED, leased and
-- heart-beaten) and the append-only record of every pipeline stage's decision.

CREATE TABLE generation_jobs (
    id                uuid PRIMARY KEY,
    clip_id           uuid NOT NULL,      -- allocated up front: a retried job reuses it
    state             text NOT NULL DEFAULT 'queued',
    stage             text NOT NULL DEFAULT 'queued',
    progress          real NOT NULL DEFAULT 0,
    requester_id      uuid NOT NULL REFERENCES subjects (id),
    platform_key_id   text NOT NULL,
    prompt            text NOT NULL,
    cameo_ids         uuid[] NOT NULL DEFAULT '{}',
    consent_token     text,
    input_sha256      text,
    input_kind        text,
    remix_of          uuid REFERENCES clips (id),
    duration_s        real NOT NULL,
    width             integer NOT NULL,
    height            integer NOT NULL,
    fps               integer NOT NULL,
    seed              bigint NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    lease_owner       text,
    lease_expires_at  timestamptz,
    error_code        text,
    error_detail      text,
    policy_version    text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT generation_jobs_state_check
        CHECK (state IN ('queued', 'running', 'published', 'blocked', 'cancelled', 'failed', 'dead')),
    CONSTRAINT generation_jobs_clip_key UNIQUE (clip_id),
    CONSTRAINT generation_jobs_input_kind_check CHECK (input_kind IS NULL OR input_kind IN ('image', 'video'))
);
-- The claim query's path: runnable jobs in age order.
CREATE INDEX generation_jobs_runnable_idx ON generation_jobs (created_at)
    WHERE state IN ('queued', 'running');
CREATE INDEX generation_jobs_cameos_idx ON generation_jobs USING gin (cameo_ids)
    WHERE state IN ('queued', 'running');

CREATE TABLE generation_stages (
    id              bigserial PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES generation_jobs (id),
    attempt         integer NOT NULL,
    stage           text NOT NULL,
    decision        text NOT NULL,     -- pass, block, cancel, error
    ms              real NOT NULL,
    policy_version  text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX generation_stages_job_idx ON generation_stages (job_id, id);
