-- One role per worker layer, each granted only what its activities touch,
-- and a read-only role for dashboards. Workers SET ROLE to their layer's
-- role on every connection (PG_SET_ROLE), so a bug in one layer cannot
-- write another's tables. Roles are cluster-wide: create them once, grant
-- them to the migrating user so it may SET ROLE, and tolerate a concurrent
-- migration of another database doing the same.
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['orderflow_stg', 'orderflow_dds', 'orderflow_cdm', 'orderflow_reader'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END $$;

-- stg: FetchBatch, EnrichViaRedis, LoadStg, CommitOffsets.
GRANT USAGE ON SCHEMA stg TO orderflow_stg;
GRANT SELECT, INSERT, UPDATE, DELETE ON stg.batches, stg.batch_messages, stg.batch_orders TO orderflow_stg;
GRANT SELECT, INSERT, UPDATE ON stg.order_events, stg.rejected_messages TO orderflow_stg;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA stg TO orderflow_stg;

-- dds: LoadDdsVault, EmitCounters. Reads the batch's orders; writes the vault.
GRANT USAGE ON SCHEMA stg, dds TO orderflow_dds;
GRANT SELECT ON stg.batch_orders TO orderflow_dds;
GRANT SELECT, INSERT ON
    dds.h_user, dds.h_product, dds.h_category, dds.h_restaurant, dds.h_order,
    dds.l_order_product, dds.l_product_restaurant, dds.l_product_category, dds.l_order_user,
    dds.s_user_names, dds.s_product_names, dds.s_restaurant_names, dds.s_order_cost, dds.s_order_status
    TO orderflow_dds;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    dds.b_order_product_counted, dds.b_order_category_counted, dds.b_user_product_cnt, dds.b_user_category_cnt
    TO orderflow_dds;

-- cdm: UpsertCdm. Reads the batch's users and the counters; writes the marts.
GRANT USAGE ON SCHEMA stg, dds, cdm TO orderflow_cdm;
GRANT SELECT ON stg.batch_orders TO orderflow_cdm;
GRANT SELECT ON dds.b_user_product_cnt, dds.b_user_category_cnt, dds.s_product_names, dds.h_category TO orderflow_cdm;
GRANT UPDATE (pending) ON dds.b_user_product_cnt, dds.b_user_category_cnt TO orderflow_cdm;
GRANT SELECT, INSERT, UPDATE ON cdm.user_product_counters, cdm.user_category_counters TO orderflow_cdm;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA cdm TO orderflow_cdm;

-- reader: dashboards, the API, operators' queries.
GRANT USAGE ON SCHEMA stg, dds, cdm TO orderflow_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA stg, dds, cdm TO orderflow_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA cdm GRANT SELECT ON TABLES TO orderflow_reader;
