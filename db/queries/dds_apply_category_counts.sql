-- Folds orders ($1: their hub keys) into the per-user category counters. An
-- order contributes each category of its current version's products once to its current
-- version's user while its current status is CLOSED (CONTRACT §2: the current
-- version, greatest update_ts then latest load, decides everything); the
-- difference to what it contributed before is applied as +1/-1, so a newer
-- version naming another user moves the counts. Running it again changes
-- nothing. Returns one row per counter changed, naming its user.
-- Every lookup goes through the keys as one array (= ANY(keys)), so each is
-- an index scan whose cost follows the batch, not the history.
WITH keys AS (
    SELECT $1::uuid[] AS pks
), cur AS (
    SELECT DISTINCT ON (s.h_order_pk) s.h_order_pk, s.status
    FROM dds.s_order_status s
    WHERE s.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
    ORDER BY s.h_order_pk, s.update_ts DESC, s.load_dt DESC
), owner AS (
    SELECT DISTINCT ON (o.h_order_pk) o.h_order_pk, o.h_user_pk, o.h_product_pks
    FROM dds.s_order_owner o
    WHERE o.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
    ORDER BY o.h_order_pk, o.update_ts DESC, o.load_dt DESC
), legacy AS (
    -- orders loaded before s_order_owner existed: the first user linked,
    -- every product linked
    SELECT DISTINCT ON (l.h_order_pk) l.h_order_pk, l.h_user_pk
    FROM dds.l_order_user l
    WHERE l.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
      AND NOT EXISTS (SELECT 1 FROM owner o WHERE o.h_order_pk = l.h_order_pk)
    ORDER BY l.h_order_pk, l.load_dt, l.h_user_pk
), wanted AS (
    SELECT DISTINCT o.h_order_pk, pc.h_category_pk, o.h_user_pk
    FROM cur
    JOIN owner o USING (h_order_pk)
    CROSS JOIN LATERAL unnest(o.h_product_pks) AS p(h_product_pk)
    JOIN dds.l_product_category pc ON pc.h_product_pk = p.h_product_pk
    WHERE cur.status = 'CLOSED'
    UNION
    SELECT lp.h_order_pk, pc.h_category_pk, lg.h_user_pk
    FROM cur
    JOIN legacy lg USING (h_order_pk)
    JOIN dds.l_order_product lp USING (h_order_pk)
    JOIN dds.l_product_category pc ON pc.h_product_pk = lp.h_product_pk
    WHERE cur.status = 'CLOSED'
), have AS (
    SELECT c.h_order_pk, c.h_category_pk, c.h_user_pk
    FROM dds.b_order_category_counted c
    WHERE c.h_order_pk = ANY ((SELECT pks FROM keys)::uuid[])
), delta AS (
    SELECT h_user_pk, h_category_pk, sum(d)::int AS d
    FROM (SELECT w.h_user_pk, w.h_category_pk, 1 AS d FROM wanted w
          WHERE NOT EXISTS (SELECT 1 FROM have h WHERE (h.h_order_pk, h.h_category_pk, h.h_user_pk) = (w.h_order_pk, w.h_category_pk, w.h_user_pk))
          UNION ALL
          SELECT h.h_user_pk, h.h_category_pk, -1 FROM have h
          WHERE NOT EXISTS (SELECT 1 FROM wanted w WHERE (h.h_order_pk, h.h_category_pk, h.h_user_pk) = (w.h_order_pk, w.h_category_pk, w.h_user_pk))) x
    GROUP BY h_user_pk, h_category_pk
    HAVING sum(d) <> 0
), kept AS (
    -- what each order contributes now; every row is touched at most once
    INSERT INTO dds.b_order_category_counted (h_order_pk, h_category_pk, h_user_pk)
    SELECT w.h_order_pk, w.h_category_pk, w.h_user_pk FROM wanted w
    WHERE NOT EXISTS (SELECT 1 FROM have h WHERE (h.h_order_pk, h.h_category_pk, h.h_user_pk) = (w.h_order_pk, w.h_category_pk, w.h_user_pk))
    ORDER BY w.h_order_pk, w.h_category_pk
    ON CONFLICT (h_order_pk, h_category_pk) DO UPDATE SET h_user_pk = EXCLUDED.h_user_pk
    RETURNING 1
), dropped AS (
    DELETE FROM dds.b_order_category_counted c
    USING have h
    WHERE (c.h_order_pk, c.h_category_pk) = (h.h_order_pk, h.h_category_pk)
      AND NOT EXISTS (SELECT 1 FROM wanted w WHERE (w.h_order_pk, w.h_category_pk) = (h.h_order_pk, h.h_category_pk))
    RETURNING 1
), updated AS (
    UPDATE dds.b_user_category_cnt c SET order_cnt = c.order_cnt + d.d, pending = true
    FROM delta d
    WHERE c.h_user_pk = d.h_user_pk AND c.h_category_pk = d.h_category_pk
    RETURNING c.h_user_pk
), inserted AS (
    INSERT INTO dds.b_user_category_cnt (h_user_pk, h_category_pk, order_cnt, pending)
    SELECT d.h_user_pk, d.h_category_pk, d.d, true
    FROM delta d
    WHERE NOT EXISTS (SELECT 1 FROM dds.b_user_category_cnt c WHERE c.h_user_pk = d.h_user_pk AND c.h_category_pk = d.h_category_pk)
    RETURNING h_user_pk
)
SELECT h_user_pk FROM updated
UNION ALL
SELECT h_user_pk FROM inserted
