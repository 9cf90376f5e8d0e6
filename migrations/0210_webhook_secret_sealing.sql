-- Webhook signing secrets sealed at rest with the service keyring (AES-256-GCM, gate/crypto.py),
-- as biometric templates are. A sealed row keeps the ciphertext in `secret` with the id of the key
-- that sealed it and the nonce; `secret_key_id IS NULL` marks a row still in clear. A migration
-- cannot reach the keyring, so rows written before this one stay clear here and the delivery
-- worker seals them (consent/notifications.py, seal_clear_secrets).
ALTER TABLE webhook_endpoints
    ADD COLUMN secret_key_id text,
    ADD COLUMN secret_nonce  bytea,
    ADD CONSTRAINT webhook_endpoints_sealed_whole
        CHECK ((secret_key_id IS NULL) = (secret_nonce IS NULL));
CREATE INDEX webhook_endpoints_clear_idx ON webhook_endpoints (id) WHERE secret_key_id IS NULL;
