-- The delivery worker's pass looks for secrets in clear or sealed under a key other than the
-- keyring's first (consent/notifications.py, seal_secrets: a key rotation re-seals them too).
-- "Not this key" is asked as two ranges around it, which this index answers without a scan of
-- every endpoint; the index on clear rows alone (0210) no longer serves that question.
DROP INDEX webhook_endpoints_clear_idx;
CREATE INDEX webhook_endpoints_key_idx ON webhook_endpoints (secret_key_id);
