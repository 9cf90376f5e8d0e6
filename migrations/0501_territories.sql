-- Territories (ISO 3166-1 alpha-2 codes) now decide which opt-outs bind a scan (docs/SAFETY.md).

-- Where a generation's clip will be shown, so that opt-outs limited to some territories apply to
-- it only there. NULL: not said, and every opt-out applies.
ALTER TABLE generation_jobs ADD COLUMN territory text
    CONSTRAINT generation_jobs_territory_check CHECK (territory ~ '^[A-Z]{2}$');

-- Opt-outs' territories were stored unchecked and unused until now. A list of codes is put in
-- upper case, once each; a list holding anything that is not a code ("France", "worldwide") is
-- emptied, so the opt-out applies everywhere rather than in fewer places than its owner meant,
-- and the list as filed is kept in the notes for the rights holder to restate.
UPDATE optouts SET territories = ARRAY(SELECT DISTINCT upper(t) FROM unnest(territories) AS t ORDER BY 1)
WHERE territories <> '{}' AND NOT EXISTS (SELECT 1 FROM unnest(territories) AS t WHERE t !~ '^[A-Za-z]{2}$');
UPDATE optouts
SET notes = concat_ws(E'\n', nullif(notes, ''),
        'Territories reset to everywhere (they must be ISO 3166-1 alpha-2 codes); as filed: '
        || array_to_string(territories, ', ')),
    territories = '{}'
WHERE EXISTS (SELECT 1 FROM unnest(territories) AS t WHERE t !~ '^[A-Z]{2}$');
ALTER TABLE optouts ADD CONSTRAINT optouts_territories_check
    CHECK (array_to_string(territories, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$');
