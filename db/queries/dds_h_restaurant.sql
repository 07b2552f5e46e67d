INSERT INTO dds.h_restaurant (h_restaurant_pk, restaurant_id, load_dt, load_src)
SELECT *, $3::timestamp, $4 FROM unnest($1::uuid[], $2::text[])
ORDER BY 1
ON CONFLICT DO NOTHING
