-- After a backfill run (or one chunk of it) went through every layer: its
-- working rows go, with those of its parts (<batch id>/<n>). A backfill
-- records no row in stg.batches and commits no offset.
WITH m AS (
    DELETE FROM stg.batch_messages WHERE batch_id = $1 OR starts_with(batch_id, $1 || '/')
)
DELETE FROM stg.batch_orders WHERE batch_id = $1 OR starts_with(batch_id, $1 || '/')
