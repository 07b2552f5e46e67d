INSERT INTO dds.l_order_product (hk_order_product_pk, h_order_pk, h_product_pk, load_dt, load_src)
SELECT *, $4::timestamp, $5 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
ORDER BY 1
ON CONFLICT DO NOTHING
