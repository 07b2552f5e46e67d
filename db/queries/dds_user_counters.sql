-- The cumulative counters of the users the batch touched (products by source
-- id with their latest name, categories by hub key), for dds-service-orders.
-- A product's latest name is looked up once per product, not per counter.
WITH users AS (
    SELECT DISTINCT h_user_pk FROM stg.batch_orders WHERE batch_id = $1
), pc AS (
    SELECT c.h_user_pk, c.h_product_pk, c.order_cnt
    FROM users JOIN dds.b_user_product_cnt c USING (h_user_pk)
), names AS (
    SELECT DISTINCT ON (s.h_product_pk) s.h_product_pk, s.name
    FROM dds.s_product_names s
    WHERE s.h_product_pk IN (SELECT DISTINCT h_product_pk FROM pc)
    ORDER BY s.h_product_pk, s.load_dt DESC
)
SELECT hu.user_id, 'product' AS kind, hp.product_id AS key, n.name, pc.order_cnt
FROM pc
JOIN dds.h_user hu USING (h_user_pk)
JOIN dds.h_product hp USING (h_product_pk)
JOIN names n USING (h_product_pk)
UNION ALL
SELECT hu.user_id, 'category', c.h_category_pk::text, hc.category_name, c.order_cnt
FROM users
JOIN dds.h_user hu USING (h_user_pk)
JOIN dds.b_user_category_cnt c USING (h_user_pk)
JOIN dds.h_category hc USING (h_category_pk)
UNION ALL
-- every touched user appears, even with no counter yet
SELECT hu.user_id, 'user', '', '', 0
FROM users JOIN dds.h_user hu USING (h_user_pk)
