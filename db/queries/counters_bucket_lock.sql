-- One bucket's lock of one kind of counter work ($1: kind × 16 + bucket; see
-- activities/counters.go), held until the transaction ends, so concurrent
-- pipelines fold, copy or publish one bucket of keys at a time.
SELECT pg_advisory_xact_lock(1869967213, $1::int)
