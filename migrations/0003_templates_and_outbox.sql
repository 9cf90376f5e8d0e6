-- Encrypted biometric templates (face and voice embeddings, reference face crops) and the
-- notification outbox, both shared by several domains.

CREATE TABLE templates (
    id          uuid PRIMARY KEY,
    owner_kind  text NOT NULL,              -- 'cameo' or 'protected_person'
    owner_ref   uuid NOT NULL,              -- cameos.id or protected_people.id
    kind        text NOT NULL,              -- 'face', 'voice', 'face_crop'
    model_id    text NOT NULL,              -- the model that produced it ('' for crops)
    key_id      text NOT NULL,
    nonce       bytea NOT NULL,
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT templates_owner_kind_check CHECK (owner_kind IN ('cameo', 'protected_person')),
    CONSTRAINT templates_kind_check CHECK (kind IN ('face', 'voice', 'face_crop'))
);
CREATE INDEX templates_owner_idx ON templates (owner_kind, owner_ref);
CREATE INDEX templates_kind_model_idx ON templates (kind, model_id);

-- Transactional outbox: rows are written in the same transaction as the change they announce;
-- a delivery worker sends them as signed webhooks and records attempts.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    event            text NOT NULL,
    idempotency_key  uuid NOT NULL,
    subject_id       uuid REFERENCES subjects (id),  -- an owner to tell (their endpoints)
    platform_key_id  text,                           -- a platform to tell (its endpoints)
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_idempotency_key UNIQUE (idempotency_key)
);
CREATE INDEX outbox_subject_idx ON outbox (subject_id, id);
CREATE INDEX outbox_platform_idx ON outbox (platform_key_id, id);
