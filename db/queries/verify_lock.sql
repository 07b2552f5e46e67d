-- Verify's snapshot: the lock of one counter family (the key of
-- counters_lock.sql), held by the session, so the snapshot is taken between
-- the pipelines' counter folds and mart copies, never in the middle of one.
-- Verify releases it (verify_unlock.sql) as soon as its snapshot exists.
SELECT pg_advisory_lock(1869967212, $1::int)
