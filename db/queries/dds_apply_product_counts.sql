-- Folds the batch's orders into the per-user product counters. An order
-- contributes its products while its current status (greatest update_ts, then
-- latest load) is CLOSED; the difference to what it contributed before is
-- applied as +1/-1. Running it again changes nothing.
-- Every lookup goes through the batch's order keys as one array
-- (= ANY(keys)), so each is an index scan whose cost follows the batch, not
-- the history.
WITH keys AS (
    SELECT array_agg(DISTINCT h_order_pk) AS pks FROM stg.batch_orders WHERE batch_id = $1
), cur AS (
    SELECT DISTINCT ON (s.h_order_pk) s.h_order_pk, s.status
    FROM dds.s_order_status s
    WHERE s.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
    ORDER BY s.h_order_pk, s.update_ts DESC, s.load_dt DESC
), owner AS (
    SELECT DISTINCT ON (l.h_order_pk) l.h_order_pk, l.h_user_pk
    FROM dds.l_order_user l
    WHERE l.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
    ORDER BY l.h_order_pk, l.load_dt, l.h_user_pk
), wanted AS (
    SELECT DISTINCT lp.h_order_pk, lp.h_product_pk, o.h_user_pk
    FROM cur
    JOIN owner o USING (h_order_pk)
    JOIN dds.l_order_product lp USING (h_order_pk)
    WHERE cur.status = 'CLOSED'
), have AS (
    SELECT c.h_order_pk, c.h_product_pk, c.h_user_pk
    FROM dds.b_order_product_counted c
    WHERE c.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
), added AS (
    INSERT INTO dds.b_order_product_counted (h_order_pk, h_product_pk, h_user_pk)
    SELECT w.h_order_pk, w.h_product_pk, w.h_user_pk FROM wanted w
    WHERE NOT EXISTS (SELECT 1 FROM have h WHERE h.h_order_pk = w.h_order_pk AND h.h_product_pk = w.h_product_pk)
    ORDER BY w.h_order_pk, w.h_product_pk
    ON CONFLICT DO NOTHING
    RETURNING h_user_pk, h_product_pk
), gone AS (
    SELECT h.* FROM have h
    WHERE NOT EXISTS (SELECT 1 FROM wanted w WHERE w.h_order_pk = h.h_order_pk AND w.h_product_pk = h.h_product_pk)
), removed AS (
    DELETE FROM dds.b_order_product_counted c
    USING gone g
    WHERE c.h_order_pk = g.h_order_pk AND c.h_product_pk = g.h_product_pk
    RETURNING c.h_user_pk, c.h_product_pk
), delta AS (
    SELECT h_user_pk, h_product_pk, sum(d)::int AS d
    FROM (SELECT h_user_pk, h_product_pk, 1 AS d FROM added
          UNION ALL
          SELECT h_user_pk, h_product_pk, -1 FROM removed) x
    GROUP BY h_user_pk, h_product_pk
    HAVING sum(d) <> 0
), updated AS (
    UPDATE dds.b_user_product_cnt c SET order_cnt = c.order_cnt + d.d, pending = true
    FROM delta d
    WHERE c.h_user_pk = d.h_user_pk AND c.h_product_pk = d.h_product_pk
    RETURNING c.h_user_pk, c.h_product_pk
)
INSERT INTO dds.b_user_product_cnt (h_user_pk, h_product_pk, order_cnt, pending)
SELECT d.h_user_pk, d.h_product_pk, d.d, true
FROM delta d
WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.h_user_pk = d.h_user_pk AND u.h_product_pk = d.h_product_pk)
