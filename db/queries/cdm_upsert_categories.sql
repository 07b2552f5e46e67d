-- Every category counter changed since it was last copied into the mart.
WITH changed AS (
    UPDATE dds.b_user_category_cnt SET pending = false
    WHERE pending
    RETURNING h_user_pk, h_category_pk, order_cnt
)
INSERT INTO cdm.user_category_counters (user_id, category_id, category_name, order_cnt)
SELECT c.h_user_pk, c.h_category_pk, hc.category_name, c.order_cnt
FROM changed c
JOIN dds.h_category hc USING (h_category_pk)
ON CONFLICT (user_id, category_id) DO UPDATE
SET category_name = EXCLUDED.category_name, order_cnt = EXCLUDED.order_cnt
WHERE (cdm.user_category_counters.category_name, cdm.user_category_counters.order_cnt)
      IS DISTINCT FROM (EXCLUDED.category_name, EXCLUDED.order_cnt)
