-- Provenance: the manifest store, invisible-watermark payloads and perceptual fingerprints, each
-- keyed by the shared clips table's id. Rows are written once when a clip is signed.

CREATE TABLE provenance_manifests (
    clip_id             uuid PRIMARY KEY,
    manifest_label      text NOT NULL,          -- the active manifest's urn:c2pa:... label
    manifest            jsonb NOT NULL,         -- the active manifest as read back after signing
    manifest_store      bytea NOT NULL,         -- the signed JUMBF manifest store (application/c2pa)
    signed_sha256       text NOT NULL,          -- the signed file in the content store
    signer_fingerprint  text NOT NULL,          -- sha256 of the signing certificate
    policy_version      text NOT NULL,
    remix_of            uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provenance_manifests_clip_fk FOREIGN KEY (clip_id) REFERENCES clips (id),
    CONSTRAINT provenance_manifests_label_key UNIQUE (manifest_label)
);

CREATE TABLE provenance_watermarks (
    clip_id     uuid PRIMARY KEY,
    payload     bigint NOT NULL,                -- 32-bit invisible-watermark payload
    algorithm   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provenance_watermarks_clip_fk FOREIGN KEY (clip_id) REFERENCES clips (id),
    CONSTRAINT provenance_watermarks_payload_key UNIQUE (payload),
    CONSTRAINT provenance_watermarks_payload_range CHECK (payload >= 0 AND payload < 4294967296)
);

CREATE TABLE provenance_fingerprints (
    clip_id     uuid PRIMARY KEY,
    algorithm   text NOT NULL,
    hashes      bytea NOT NULL,                 -- n × 32-byte PDQ hashes of sampled frames
    times       real[] NOT NULL,                -- the sampled frames' times in seconds
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT provenance_fingerprints_clip_fk FOREIGN KEY (clip_id) REFERENCES clips (id),
    CONSTRAINT provenance_fingerprints_length CHECK (octet_length(hashes) = 32 * cardinality(times))
);
