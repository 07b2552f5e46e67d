-- CONTRACT §14: `orderflow verify` and the daily Verify workflow recompute the
-- marts from the vault alone and record each run here, so the dashboard
-- shows the last result. mismatches counts every problem found (counter and
-- name differences plus orphan rows); orphans is how many of them are rows
-- of a link or satellite naming a missing hub. detail holds the first
-- differences and the orphan counts per table (JSON).
CREATE TABLE IF NOT EXISTS stg.verify_runs (
    id           bigserial PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    duration_ms  bigint NOT NULL,
    rows_checked bigint NOT NULL,
    mismatches   bigint NOT NULL,
    orphans      bigint NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS verify_runs_recent ON stg.verify_runs (started_at DESC);

-- The Verify workflow's activity runs on the dds worker, as orderflow_dds:
-- it records its runs and reads the marts it compares (never writes them).
GRANT SELECT, INSERT ON stg.verify_runs TO orderflow_dds;
GRANT USAGE ON SEQUENCE stg.verify_runs_id_seq TO orderflow_dds;
GRANT USAGE ON SCHEMA cdm TO orderflow_dds;
GRANT SELECT ON cdm.user_product_counters, cdm.user_category_counters TO orderflow_dds;
GRANT SELECT ON stg.verify_runs TO orderflow_reader;
