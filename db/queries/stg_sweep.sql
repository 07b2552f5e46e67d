-- Working rows of batches that failed and were never committed, older than a day.
WITH old AS (
    SELECT batch_id FROM stg.batches
    WHERE committed_at IS NULL AND started_at < now() - interval '1 day'
), m AS (
    DELETE FROM stg.batch_messages WHERE batch_id IN (SELECT batch_id FROM old)
)
DELETE FROM stg.batch_orders WHERE batch_id IN (SELECT batch_id FROM old)
