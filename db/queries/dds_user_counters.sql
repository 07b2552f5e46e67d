-- The cumulative counters of the users a batch touched (products by source
-- id with their latest name, categories by hub key), for dds-service-orders.
-- $1: the users' hub keys (the batch's users and those whose counters the
-- fold moved). Lookups go through them as one array (= ANY(keys)): index
-- scans whose cost follows the touched users' counters, not the whole table.
WITH keys AS (
    SELECT $1::uuid[] AS pks
), users AS (
    SELECT hu.h_user_pk, hu.user_id FROM dds.h_user hu
    WHERE hu.h_user_pk = ANY ((SELECT pks FROM keys)::uuid[])
), pc AS (
    SELECT c.h_user_pk, c.h_product_pk, c.order_cnt FROM dds.b_user_product_cnt c
    WHERE c.h_user_pk = ANY ((SELECT pks FROM keys)::uuid[])
), names AS (
    SELECT DISTINCT ON (s.h_product_pk) s.h_product_pk, s.name
    FROM dds.s_product_names s
    WHERE s.h_product_pk IN (SELECT DISTINCT h_product_pk FROM pc)
    ORDER BY s.h_product_pk, s.load_dt DESC
)
SELECT u.user_id, 'product' AS kind, hp.product_id AS key, n.name, pc.order_cnt
FROM pc
JOIN users u USING (h_user_pk)
JOIN dds.h_product hp USING (h_product_pk)
JOIN names n USING (h_product_pk)
UNION ALL
SELECT u.user_id, 'category', c.h_category_pk::text, hc.category_name, c.order_cnt
FROM dds.b_user_category_cnt c
JOIN users u USING (h_user_pk)
JOIN dds.h_category hc USING (h_category_pk)
WHERE c.h_user_pk = ANY ((SELECT pks FROM keys)::uuid[])
UNION ALL
-- every touched user appears, even with no counter yet
SELECT u.user_id, 'user', '', '', 0 FROM users u
