-- The last verification (CONTRACT §14; stg.verify_runs, written by the daily
-- Verify workflow and `orderflow verify`); no row: none yet.
SELECT started_at, duration_ms, rows_checked, mismatches, orphans
FROM stg.verify_runs
ORDER BY started_at DESC, id DESC
LIMIT 1
