-- A run that failed for good (CONTRACT §10, "a stalled pipeline is loud"): one row
-- per run, step and error type, so a retried RecordFailure adds nothing. Rows
-- of the shard older than 30 days go at the same time.
WITH pruned AS (
    DELETE FROM stg.run_failures
    WHERE shard = $1 AND failed_at < now() - interval '30 days'
)
INSERT INTO stg.run_failures (shard, batch_id, step, error_type, message)
SELECT $1, $2, $3, $4, $5
WHERE NOT EXISTS (
    SELECT 1 FROM stg.run_failures
    WHERE shard = $1 AND batch_id = $2 AND step = $3 AND error_type = $4
)
