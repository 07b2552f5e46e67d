-- A row only when the hashdiff differs from the restaurant's latest row.
INSERT INTO dds.s_restaurant_names (h_restaurant_pk, name, hk_restaurant_names_hashdiff, load_dt, load_src)
SELECT u.pk, u.name, u.hd, $4::timestamp, $5
FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS u(pk, name, hd)
WHERE u.hd IS DISTINCT FROM (SELECT s.hk_restaurant_names_hashdiff FROM dds.s_restaurant_names s
                             WHERE s.h_restaurant_pk = u.pk ORDER BY s.load_dt DESC LIMIT 1)
ORDER BY 1
ON CONFLICT DO NOTHING
