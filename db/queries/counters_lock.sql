-- The family locks of counter work ($1: families, 1 products, 2 categories),
-- taken shared and held until the transaction ends. Workers of this build
-- never wait on each other here; they take turns per bucket
-- (counters_bucket_lock.sql). A worker of an older build takes these locks
-- exclusively for all its counter work, so during a rolling deploy the two
-- builds still take turns.
SELECT count(pg_advisory_xact_lock_shared(1869967212, f)) FROM unnest($1::int[]) AS f
