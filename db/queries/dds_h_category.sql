INSERT INTO dds.h_category (h_category_pk, category_name, load_dt, load_src)
SELECT *, $3::timestamp, $4 FROM unnest($1::uuid[], $2::text[])
ORDER BY 1
ON CONFLICT DO NOTHING
