-- The last $1 batches, newest first; ms is committed_at - started_at (null
-- while the batch runs, or when it failed before its commit).
SELECT batch_id, shard, shards, started_at, committed_at, fetched, backlog, orders, rejected,
       round(extract(epoch FROM committed_at - started_at) * 1000)::bigint AS ms
FROM stg.batches
ORDER BY started_at DESC, batch_id
LIMIT $1
