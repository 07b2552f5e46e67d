-- Stores rejected messages; a message rejected before (a replay) keeps its first row.
INSERT INTO stg.rejected_messages (topic, "partition", "offset", record_ts, raw, reason, detail, object_id, batch_id)
SELECT $1, r.p, r.o, r.ts, r.raw, r.reason, r.detail, r.object_id, $2
FROM unnest($3::int[], $4::bigint[], $5::timestamp[], $6::bytea[], $7::text[], $8::text[], $9::bigint[])
     AS r(p, o, ts, raw, reason, detail, object_id)
ON CONFLICT (topic, "partition", "offset") DO NOTHING
