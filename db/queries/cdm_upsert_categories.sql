-- The touched users' category counters into the mart.
WITH users AS (
    SELECT DISTINCT h_user_pk FROM stg.batch_orders WHERE batch_id = $1
)
INSERT INTO cdm.user_category_counters (user_id, category_id, category_name, order_cnt)
SELECT c.h_user_pk, c.h_category_pk, hc.category_name, c.order_cnt
FROM users
JOIN dds.b_user_category_cnt c USING (h_user_pk)
JOIN dds.h_category hc USING (h_category_pk)
ON CONFLICT (user_id, category_id) DO UPDATE
SET category_name = EXCLUDED.category_name, order_cnt = EXCLUDED.order_cnt
WHERE (cdm.user_category_counters.category_name, cdm.user_category_counters.order_cnt)
      IS DISTINCT FROM (EXCLUDED.category_name, EXCLUDED.order_cnt)
