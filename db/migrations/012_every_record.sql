-- CONTRACT §9: every record ends up loaded or rejected. Three new reasons:
-- empty_record (a tombstone or empty value), output_too_large (its enriched
-- message exceeds what the output topic accepts), poison (a record that made
-- an activity fail for good; the detail holds the error). A batch's record
-- value may be empty, never NULL.
ALTER TABLE stg.rejected_messages DROP CONSTRAINT IF EXISTS rejected_messages_reason_check;
ALTER TABLE stg.rejected_messages ADD CONSTRAINT rejected_messages_reason_check
    CHECK (reason IN ('malformed_json', 'empty_record', 'invalid_order', 'ignored_object_type',
                      'unknown_restaurant', 'product_not_in_menu', 'output_too_large', 'poison'));

-- CONTRACT §10, "a stalled pipeline is loud": one row per run that failed for
-- good (the workflow records it before it returns the error), read by the
-- metrics, the dashboard and `orderflow status`.
CREATE TABLE IF NOT EXISTS stg.run_failures (
    id         bigserial PRIMARY KEY,
    shard      int NOT NULL,
    batch_id   text NOT NULL,
    step       text NOT NULL,
    error_type text NOT NULL,
    message    text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS run_failures_recent ON stg.run_failures (shard, failed_at DESC);
GRANT SELECT, INSERT, DELETE ON stg.run_failures TO orderflow_stg;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA stg TO orderflow_stg;
GRANT SELECT ON stg.run_failures TO orderflow_reader;

-- CONTRACT §2, "the current version decides everything": one row per distinct
-- version of an order (keyed like s_order_status, whose hashdiff includes
-- update_ts) naming the user, restaurant and products that version names.
-- The current version is the row with the greatest update_ts (ties: the
-- later load_dt), so which user owns an order now is derivable from the
-- vault alone, whatever the batch boundaries were.
CREATE TABLE IF NOT EXISTS dds.s_order_owner (
    h_order_pk              uuid NOT NULL REFERENCES dds.h_order,
    h_user_pk               uuid NOT NULL REFERENCES dds.h_user,
    h_restaurant_pk         uuid NOT NULL REFERENCES dds.h_restaurant,
    h_product_pks           uuid[] NOT NULL,
    update_ts               timestamp NOT NULL,
    hk_order_owner_hashdiff uuid NOT NULL,
    load_dt                 timestamp NOT NULL,
    load_src                varchar NOT NULL,
    PRIMARY KEY (h_order_pk, load_dt),
    UNIQUE (h_order_pk, hk_order_owner_hashdiff)
);
GRANT SELECT, INSERT ON dds.s_order_owner TO orderflow_dds;
GRANT SELECT ON dds.s_order_owner TO orderflow_reader;

-- The safety net takes a poison record's version back out of STG and the
-- vault's order satellites (db/queries/*_retract_poison.sql).
GRANT DELETE ON stg.order_events TO orderflow_stg;
GRANT DELETE ON dds.s_order_status, dds.s_order_cost, dds.s_order_owner TO orderflow_dds;
