-- The touched users' product counters, with the product's latest name, into
-- the mart; rows that already say the same are not rewritten.
WITH users AS (
    SELECT DISTINCT h_user_pk FROM stg.batch_orders WHERE batch_id = $1
)
INSERT INTO cdm.user_product_counters (user_id, product_id, product_name, order_cnt)
SELECT c.h_user_pk, c.h_product_pk, pn.name, c.order_cnt
FROM users
JOIN dds.b_user_product_cnt c USING (h_user_pk)
CROSS JOIN LATERAL (SELECT s.name FROM dds.s_product_names s
                    WHERE s.h_product_pk = c.h_product_pk ORDER BY s.load_dt DESC LIMIT 1) pn
ON CONFLICT (user_id, product_id) DO UPDATE
SET product_name = EXCLUDED.product_name, order_cnt = EXCLUDED.order_cnt
WHERE (cdm.user_product_counters.product_name, cdm.user_product_counters.order_cnt)
      IS DISTINCT FROM (EXCLUDED.product_name, EXCLUDED.order_cnt)
