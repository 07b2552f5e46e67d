-- A row only when the hashdiff differs from the product's latest row.
INSERT INTO dds.s_product_names (h_product_pk, name, hk_product_names_hashdiff, load_dt, load_src)
SELECT u.pk, u.name, u.hd, $4::timestamp, $5
FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS u(pk, name, hd)
WHERE u.hd IS DISTINCT FROM (SELECT s.hk_product_names_hashdiff FROM dds.s_product_names s
                             WHERE s.h_product_pk = u.pk ORDER BY s.load_dt DESC LIMIT 1)
ORDER BY 1
ON CONFLICT DO NOTHING
