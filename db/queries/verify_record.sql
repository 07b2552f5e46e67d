-- One verify run's result, for the dashboard (stg.verify_runs).
INSERT INTO stg.verify_runs (started_at, duration_ms, rows_checked, mismatches, orphans, detail)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id
