-- A part of a batch for the safety net: rows $3 to $4 (0-based, end
-- excluded) of batch $1's records in partition and offset order, under the
-- part's own batch id $2. A retry replaces what an earlier attempt copied.
WITH cleared AS (
    DELETE FROM stg.batch_messages WHERE batch_id = $2
)
INSERT INTO stg.batch_messages (batch_id, "partition", "offset", record_ts, value)
SELECT $2, "partition", "offset", record_ts, value
FROM stg.batch_messages
WHERE batch_id = $1
ORDER BY "partition", "offset"
OFFSET $3 LIMIT $4 - $3
ON CONFLICT (batch_id, "partition", "offset") DO NOTHING
