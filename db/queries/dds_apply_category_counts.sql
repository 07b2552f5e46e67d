-- Folds orders ($1: their hub keys) into the per-user category counters. An
-- order contributes each category of its current version's products once to its current
-- version's user while its current status is CLOSED (CONTRACT §2: the current
-- version, greatest update_ts then latest load, decides everything); the
-- difference to what it contributed before is applied as +1/-1, so a newer
-- version naming another user moves the counts. Running it again changes
-- nothing. The caller runs it for one bucket of orders at a time, under
-- that bucket's lock (activities/counters.go), so no two folds of an order
-- overlap. Returns one row per counter changed, naming its user.
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
), applied AS (
    -- one upsert in key order: concurrent folds of other buckets that move
    -- the same counter wait on its row instead of inserting it twice, and
    -- never lock two rows in opposite orders. The proposed row carries the
    -- delta's size in order_cnt (PostgreSQL checks order_cnt >= 0 on it
    -- before it looks for the conflict) and its sign in pending.
    INSERT INTO dds.b_user_category_cnt AS c (h_user_pk, h_category_pk, order_cnt, pending)
    SELECT d.h_user_pk, d.h_category_pk, abs(d.d), d.d > 0
    FROM delta d
    -- a take-back from a counter that is not there (it cannot be below 0)
    -- changes nothing, as an UPDATE of no row would
    -- (a scalar subquery with LIMIT, so it is one index lookup per take-back,
    -- never a hashed scan of the whole table)
    WHERE d.d > 0 OR (SELECT true FROM dds.b_user_category_cnt x WHERE x.h_user_pk = d.h_user_pk AND x.h_category_pk = d.h_category_pk LIMIT 1)
    ORDER BY d.h_user_pk, d.h_category_pk
    ON CONFLICT (h_user_pk, h_category_pk) DO UPDATE
    SET order_cnt = c.order_cnt + CASE WHEN EXCLUDED.pending THEN EXCLUDED.order_cnt ELSE -EXCLUDED.order_cnt END,
        pending = true
    RETURNING c.h_user_pk
)
SELECT h_user_pk FROM applied
