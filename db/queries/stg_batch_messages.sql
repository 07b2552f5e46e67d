-- A batch's raw records, in partition and offset order.
SELECT "partition", "offset", record_ts, value
FROM stg.batch_messages
WHERE batch_id = $1
ORDER BY "partition", "offset"
