-- Deleting a cameo now withdraws its open enrollment reviews (docs/ENROLLMENT.md). Reviews of
-- cameos deleted before that are withdrawn here, so the review queue lists only cameos that can
-- still be decided.
UPDATE enrollment_reviews r SET resolved_at = now(), resolution = 'withdrawn'
FROM cameos c
WHERE c.id = r.cameo_id AND c.status = 'deleted' AND r.resolved_at IS NULL;
