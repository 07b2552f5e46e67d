-- Working rows of batches (and their parts, <batch id>/<n>) that failed and
-- were never committed, older than a day.
WITH old AS (
    SELECT batch_id FROM stg.batches
    WHERE committed_at IS NULL AND started_at < now() - interval '1 day'
), m AS (
    DELETE FROM stg.batch_messages WHERE EXISTS (SELECT 1 FROM old) AND split_part(batch_id, '/', 1) IN (SELECT batch_id FROM old)
)
DELETE FROM stg.batch_orders WHERE EXISTS (SELECT 1 FROM old) AND split_part(batch_id, '/', 1) IN (SELECT batch_id FROM old)
