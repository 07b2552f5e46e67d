-- The lock of one counter family, held until the transaction ends, so
-- concurrent pipelines apply and copy its changes one at a time:
-- $1 = 1 product counters (dds.b_order_product_counted, dds.b_user_product_cnt,
-- cdm.user_product_counters), 2 category counters (the category tables).
-- A transaction that needs both takes 1, then 2.
SELECT pg_advisory_xact_lock(1869967212, $1::int)
