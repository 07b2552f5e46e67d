INSERT INTO dds.h_user (h_user_pk, user_id, load_dt, load_src)
SELECT * , $3::timestamp, $4 FROM unnest($1::uuid[], $2::text[])
ORDER BY 1
ON CONFLICT DO NOTHING
