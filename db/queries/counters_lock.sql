-- One lock for every pipeline's counter work (EmitCounters, UpsertCdm), held
-- until the transaction ends, so concurrent pipelines apply changes one at a time.
SELECT pg_advisory_xact_lock(7954880413474652531)
