-- One row per distinct (order, hashdiff).
INSERT INTO dds.s_order_cost (h_order_pk, cost, payment, hk_order_cost_hashdiff, load_dt, load_src)
SELECT *, $5::timestamp, $6 FROM unnest($1::uuid[], $2::text[]::numeric[], $3::text[]::numeric[], $4::uuid[])
ORDER BY 1
ON CONFLICT DO NOTHING
