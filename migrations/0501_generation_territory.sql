-- Where a generation's clip will be shown (ISO 3166-1 alpha-2), so that rights holders' opt-outs
-- limited to some territories apply to it only there (docs/SAFETY.md). NULL: not said, and every
-- opt-out applies.
ALTER TABLE generation_jobs ADD COLUMN territory text
    CONSTRAINT generation_jobs_territory_check CHECK (territory ~ '^[A-Z]{2}$');
