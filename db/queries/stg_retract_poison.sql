-- A poison record's STG row (when the current row is exactly its version)
-- goes: the record is rejected, so STG must not show it. $1: the part of
-- the batch that holds only the poison record.
DELETE FROM stg.order_events e
USING stg.batch_orders o
WHERE o.batch_id = $1
  AND e.object_id = o.object_id
  AND e.update_ts = o.update_ts
  AND e.payload::text = o.payload
