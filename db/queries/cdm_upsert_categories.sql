-- Every category counter of one bucket of users ($1, $2: its smallest and
-- largest user key) changed since it was last copied into the mart. Rows a
-- running fold holds are skipped (SKIP LOCKED): the fold sets them pending
-- again, and its own pipeline copies them, so a copy never waits on a fold
-- and the two never lock rows in opposite orders.
WITH claimed AS (
    SELECT h_user_pk, h_category_pk FROM dds.b_user_category_cnt
    WHERE pending AND h_user_pk BETWEEN $1::uuid AND $2::uuid
    FOR UPDATE SKIP LOCKED
), changed AS (
    UPDATE dds.b_user_category_cnt c SET pending = false
    FROM claimed k
    WHERE c.h_user_pk = k.h_user_pk AND c.h_category_pk = k.h_category_pk
    RETURNING c.h_user_pk, c.h_category_pk, c.order_cnt
)
INSERT INTO cdm.user_category_counters (user_id, category_id, category_name, order_cnt)
SELECT c.h_user_pk, c.h_category_pk, hc.category_name, c.order_cnt
FROM changed c
JOIN dds.h_category hc USING (h_category_pk)
ON CONFLICT (user_id, category_id) DO UPDATE
SET category_name = EXCLUDED.category_name, order_cnt = EXCLUDED.order_cnt
WHERE (cdm.user_category_counters.category_name, cdm.user_category_counters.order_cnt)
      IS DISTINCT FROM (EXCLUDED.category_name, EXCLUDED.order_cnt)
