-- One row per distinct (order, hashdiff); the hashdiff includes update_ts.
INSERT INTO dds.s_order_status (h_order_pk, status, update_ts, hk_order_status_hashdiff, load_dt, load_src)
SELECT *, $5::timestamp, $6 FROM unnest($1::uuid[], $2::text[], $3::timestamp[], $4::uuid[])
ORDER BY 1
ON CONFLICT DO NOTHING
