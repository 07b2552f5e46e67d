-- Records a batch (or a retried FetchBatch of it) and clears its working rows.
INSERT INTO stg.batches (batch_id, shard, shards, load_dt, ranges, fetched, backlog)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (batch_id) DO UPDATE
SET ranges = EXCLUDED.ranges, fetched = EXCLUDED.fetched, backlog = EXCLUDED.backlog,
    orders = NULL, rejected = NULL, committed_at = NULL
