-- Territories (ISO 3166-1 alpha-2 codes) now decide which opt-outs bind a scan (docs/SAFETY.md).

-- Where a generation's clip will be shown, so that opt-outs limited to some territories apply to
-- it only there. NULL: not said, and every opt-out applies.
ALTER TABLE generation_jobs ADD COLUMN territory text
    CONSTRAINT generation_jobs_territory_check CHECK (territory ~ '^[A-Z]{2}$');

-- Opt-outs' territories were stored unchecked and unused until now. A list of assigned codes
-- (the same 249 as gate/territories.py) is put in upper case, once each, with the reserved UK and
-- EL read as GB and GR. A list holding anything else ("France", "EU", "worldwide", an empty or
-- NULL element) is emptied, so the opt-out applies everywhere rather than in fewer places than
-- its owner meant, and the list as filed is kept in the notes for the rights holder to restate.
CREATE TEMPORARY TABLE assigned_territories ON COMMIT DROP AS
SELECT code FROM regexp_split_to_table('
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
', '\s+') AS code WHERE code <> '';

CREATE FUNCTION pg_temp.as_code(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE upper(t) WHEN 'UK' THEN 'GB' WHEN 'EL' THEN 'GR' ELSE upper(t) END
$$;

UPDATE optouts
SET notes = concat_ws(E'\n', nullif(notes, ''),
        'Territories reset to everywhere (they must be ISO 3166-1 alpha-2 codes); as filed: '
        || array_to_string(territories, ', ', '(none)')),
    territories = '{}'
WHERE EXISTS (
    SELECT 1 FROM unnest(territories) AS t
    WHERE t IS NULL OR pg_temp.as_code(t) NOT IN (SELECT code FROM assigned_territories)
);
UPDATE optouts
SET territories = ARRAY(SELECT DISTINCT pg_temp.as_code(t) FROM unnest(territories) AS t ORDER BY 1)
WHERE territories <> '{}';

ALTER TABLE optouts ADD CONSTRAINT optouts_territories_check
    CHECK (array_position(territories, NULL) IS NULL
           AND array_to_string(territories, ',') ~ '^([A-Z]{2}(,[A-Z]{2})*)?$');
