-- After the offset commit: the batch is done and its working rows go, with
-- those of its parts (<batch id>/<n>, made by the safety net).
WITH done AS (
    UPDATE stg.batches SET committed_at = now() WHERE batch_id = $1 RETURNING batch_id
), m AS (
    DELETE FROM stg.batch_messages WHERE batch_id = $1 OR starts_with(batch_id, $1 || '/')
)
DELETE FROM stg.batch_orders WHERE batch_id = $1 OR starts_with(batch_id, $1 || '/')
