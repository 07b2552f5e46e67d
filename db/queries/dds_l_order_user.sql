INSERT INTO dds.l_order_user (hk_order_user_pk, h_order_pk, h_user_pk, load_dt, load_src)
SELECT *, $4::timestamp, $5 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
ORDER BY 1
ON CONFLICT DO NOTHING
