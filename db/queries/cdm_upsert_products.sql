-- Every product counter of one bucket of users ($1, $2: its smallest and
-- largest user key) changed since it was last copied (pending), with the
-- product's latest name, into the mart; the flag is cleared in the same
-- statement. Rows that already say the same are not rewritten. Rows a
-- running fold holds are skipped (SKIP LOCKED): the fold sets them pending
-- again, and its own pipeline copies them, so a copy never waits on a fold
-- and the two never lock rows in opposite orders.
WITH claimed AS (
    SELECT h_user_pk, h_product_pk FROM dds.b_user_product_cnt
    WHERE pending AND h_user_pk BETWEEN $1::uuid AND $2::uuid
    FOR UPDATE SKIP LOCKED
), changed AS (
    UPDATE dds.b_user_product_cnt c SET pending = false
    FROM claimed k
    WHERE c.h_user_pk = k.h_user_pk AND c.h_product_pk = k.h_product_pk
    RETURNING c.h_user_pk, c.h_product_pk, c.order_cnt
), names AS (
    SELECT DISTINCT ON (s.h_product_pk) s.h_product_pk, s.name
    FROM dds.s_product_names s
    WHERE s.h_product_pk IN (SELECT DISTINCT h_product_pk FROM changed)
    ORDER BY s.h_product_pk, s.load_dt DESC
)
INSERT INTO cdm.user_product_counters (user_id, product_id, product_name, order_cnt)
SELECT c.h_user_pk, c.h_product_pk, n.name, c.order_cnt
FROM changed c JOIN names n USING (h_product_pk)
ON CONFLICT (user_id, product_id) DO UPDATE
SET product_name = EXCLUDED.product_name, order_cnt = EXCLUDED.order_cnt
WHERE (cdm.user_product_counters.product_name, cdm.user_product_counters.order_cnt)
      IS DISTINCT FROM (EXCLUDED.product_name, EXCLUDED.order_cnt)
