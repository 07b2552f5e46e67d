-- After the offset commit: the batch is done and its working rows go, with
-- those of its parts. $2 lists the batch's id and its parts' (<batch id>/1
-- … /<n>, made by the safety net), so both deletes use the primary keys.
WITH done AS (
    UPDATE stg.batches SET committed_at = now() WHERE batch_id = $1 RETURNING batch_id
), m AS (
    DELETE FROM stg.batch_messages WHERE batch_id = ANY ($2::text[])
)
DELETE FROM stg.batch_orders WHERE batch_id = ANY ($2::text[])
