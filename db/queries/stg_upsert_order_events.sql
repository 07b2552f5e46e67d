-- The batch's orders into STG; an older version never overwrites a newer one,
-- and an identical one is not rewritten.
INSERT INTO stg.order_events (object_id, payload, object_type, sent_dttm, update_ts)
SELECT object_id, payload::json, 'order', sent_dttm, update_ts
FROM stg.batch_orders
WHERE batch_id = $1
ORDER BY object_id -- concurrent shards lock rows in the same order: no deadlock
ON CONFLICT (object_id) DO UPDATE
SET payload = EXCLUDED.payload, object_type = EXCLUDED.object_type,
    sent_dttm = EXCLUDED.sent_dttm, update_ts = EXCLUDED.update_ts
WHERE stg.order_events.update_ts < EXCLUDED.update_ts
   OR (stg.order_events.update_ts = EXCLUDED.update_ts
       AND stg.order_events.payload::text IS DISTINCT FROM EXCLUDED.payload::text)
