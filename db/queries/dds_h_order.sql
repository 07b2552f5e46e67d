INSERT INTO dds.h_order (h_order_pk, order_id, order_dt, load_dt, load_src)
SELECT *, $4::timestamp, $5 FROM unnest($1::uuid[], $2::int[], $3::timestamp[])
ORDER BY 1
ON CONFLICT DO NOTHING
