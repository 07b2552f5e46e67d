-- CONTRACT §14: both marts recomputed from the raw vault alone (no incremental
-- state: the b_order_*_counted tables are not read), compared with the
-- per-user counters (dds.b_user_*_cnt) and the marts (cdm.user_*_counters).
-- The rule (CONTRACT §2, 8): an order's current version is its s_order_status row
-- with the greatest update_ts (ties: the later load_dt); it counts while that
-- status is CLOSED. Its user and products are those of its current
-- s_order_owner row (same order); an order loaded before s_order_owner
-- existed has none, and then its user is the first l_order_user link
-- (load_dt, then h_user_pk) and its products every l_order_product link.
-- order_cnt = distinct counted orders of the user holding the product (for
-- a category: a product linked to it). A counter row of 0 equals an absent
-- one. Mart names: a product's latest s_product_names row, a category's
-- h_category.category_name.
--
-- Returns one row per difference, then summary rows (kind 'keys': the
-- counter keys compared, in want; kind 'orders': the counted orders).
-- in_flight marks a difference that a batch still in flight explains: its
-- user (or, for a name, its product) belongs to an order of a batch whose
-- working rows (stg.batch_orders) are still there, or, in a mart, its
-- counter waits to be copied (pending). Every step is a full scan with hash
-- joins and aggregates: the cost follows the vault's size, once.
WITH cur_status AS (
    SELECT DISTINCT ON (s.h_order_pk) s.h_order_pk, s.status
    FROM dds.s_order_status s
    ORDER BY s.h_order_pk, s.update_ts DESC, s.load_dt DESC
), counted AS (
    SELECT h_order_pk FROM cur_status WHERE status = 'CLOSED'
), cur_owner AS (
    SELECT DISTINCT ON (o.h_order_pk) o.h_order_pk, o.h_user_pk, o.h_product_pks
    FROM dds.s_order_owner o
    ORDER BY o.h_order_pk, o.update_ts DESC, o.load_dt DESC
), legacy_owner AS (
    SELECT DISTINCT ON (l.h_order_pk) l.h_order_pk, l.h_user_pk
    FROM dds.l_order_user l
    WHERE NOT EXISTS (SELECT 1 FROM dds.s_order_owner o WHERE o.h_order_pk = l.h_order_pk)
    ORDER BY l.h_order_pk, l.load_dt, l.h_user_pk
), order_product AS (
    -- (order, its user, a product of it), each once
    SELECT o.h_order_pk, o.h_user_pk, p.h_product_pk
    FROM counted c
    JOIN cur_owner o USING (h_order_pk)
    CROSS JOIN LATERAL unnest(o.h_product_pks) AS p(h_product_pk)
    UNION
    SELECT lg.h_order_pk, lg.h_user_pk, lp.h_product_pk
    FROM counted c
    JOIN legacy_owner lg USING (h_order_pk)
    JOIN dds.l_order_product lp USING (h_order_pk)
), want_product AS (
    SELECT h_user_pk, h_product_pk, count(*) AS order_cnt
    FROM order_product
    GROUP BY h_user_pk, h_product_pk
), want_category AS (
    SELECT h_user_pk, h_category_pk, count(*) AS order_cnt
    FROM (SELECT DISTINCT op.h_user_pk, pc.h_category_pk, op.h_order_pk
          FROM order_product op
          JOIN dds.l_product_category pc USING (h_product_pk)) x
    GROUP BY h_user_pk, h_category_pk
), flight_orders AS (
    SELECT DISTINCT h_order_pk FROM stg.batch_orders
), flight_users AS (
    SELECT h_user_pk FROM stg.batch_orders
    UNION
    SELECT l.h_user_pk FROM dds.l_order_user l JOIN flight_orders USING (h_order_pk)
    UNION
    SELECT o.h_user_pk FROM dds.s_order_owner o JOIN flight_orders USING (h_order_pk)
), flight_products AS (
    SELECT lp.h_product_pk FROM dds.l_order_product lp JOIN flight_orders USING (h_order_pk)
    UNION
    SELECT unnest(o.h_product_pks) FROM dds.s_order_owner o JOIN flight_orders USING (h_order_pk)
), product_cmp AS (
    SELECT h_user_pk, h_product_pk,
           sum(want)::bigint AS want, sum(cnt)::bigint AS cnt, sum(mart)::bigint AS mart,
           bool_or(pending) AS pending, bool_or(in_mart) AS in_mart, max(mart_name) AS mart_name
    FROM (SELECT h_user_pk, h_product_pk, order_cnt AS want, 0 AS cnt, 0 AS mart,
                 false AS pending, false AS in_mart, NULL::varchar AS mart_name
          FROM want_product
          UNION ALL
          SELECT h_user_pk, h_product_pk, 0, order_cnt, 0, pending, false, NULL
          FROM dds.b_user_product_cnt
          UNION ALL
          SELECT user_id, product_id, 0, 0, order_cnt, false, true, product_name
          FROM cdm.user_product_counters) x
    GROUP BY h_user_pk, h_product_pk
), category_cmp AS (
    SELECT h_user_pk, h_category_pk,
           sum(want)::bigint AS want, sum(cnt)::bigint AS cnt, sum(mart)::bigint AS mart,
           bool_or(pending) AS pending, bool_or(in_mart) AS in_mart, max(mart_name) AS mart_name
    FROM (SELECT h_user_pk, h_category_pk, order_cnt AS want, 0 AS cnt, 0 AS mart,
                 false AS pending, false AS in_mart, NULL::varchar AS mart_name
          FROM want_category
          UNION ALL
          SELECT h_user_pk, h_category_pk, 0, order_cnt, 0, pending, false, NULL
          FROM dds.b_user_category_cnt
          UNION ALL
          SELECT user_id, category_id, 0, 0, order_cnt, false, true, category_name
          FROM cdm.user_category_counters) x
    GROUP BY h_user_pk, h_category_pk
), product_names AS (
    SELECT DISTINCT ON (s.h_product_pk) s.h_product_pk, s.name
    FROM dds.s_product_names s
    ORDER BY s.h_product_pk, s.load_dt DESC
), diff AS (
    SELECT 'product' AS family, 'dds.b_user_product_cnt' AS tbl, 'count' AS kind,
           c.h_user_pk, c.h_product_pk AS key_pk, c.want, c.cnt AS got,
           NULL::varchar AS want_name, NULL::varchar AS got_name,
           c.h_user_pk IN (SELECT h_user_pk FROM flight_users) AS in_flight
    FROM product_cmp c WHERE c.want <> c.cnt
    UNION ALL
    SELECT 'product', 'cdm.user_product_counters', 'count',
           c.h_user_pk, c.h_product_pk, c.want, c.mart, NULL, NULL,
           c.pending OR c.h_user_pk IN (SELECT h_user_pk FROM flight_users)
    FROM product_cmp c WHERE c.want <> c.mart
    UNION ALL
    SELECT 'product', 'cdm.user_product_counters', 'name',
           c.h_user_pk, c.h_product_pk, NULL, NULL, n.name, c.mart_name,
           c.pending OR c.h_product_pk IN (SELECT h_product_pk FROM flight_products)
    FROM product_cmp c LEFT JOIN product_names n USING (h_product_pk)
    WHERE c.in_mart AND c.mart_name IS DISTINCT FROM n.name
    UNION ALL
    SELECT 'category', 'dds.b_user_category_cnt', 'count',
           c.h_user_pk, c.h_category_pk, c.want, c.cnt, NULL, NULL,
           c.h_user_pk IN (SELECT h_user_pk FROM flight_users)
    FROM category_cmp c WHERE c.want <> c.cnt
    UNION ALL
    SELECT 'category', 'cdm.user_category_counters', 'count',
           c.h_user_pk, c.h_category_pk, c.want, c.mart, NULL, NULL,
           c.pending OR c.h_user_pk IN (SELECT h_user_pk FROM flight_users)
    FROM category_cmp c WHERE c.want <> c.mart
    UNION ALL
    SELECT 'category', 'cdm.user_category_counters', 'name',
           c.h_user_pk, c.h_category_pk, NULL, NULL, hc.category_name, c.mart_name,
           c.pending
    FROM category_cmp c LEFT JOIN dds.h_category hc USING (h_category_pk)
    WHERE c.in_mart AND c.mart_name IS DISTINCT FROM hc.category_name
)
SELECT d.family, d.tbl, d.kind, d.in_flight, d.h_user_pk, hu.user_id, d.key_pk,
       CASE d.family WHEN 'product' THEN hp.product_id ELSE hc.category_name END AS key_name,
       d.want, d.got, d.want_name, d.got_name
FROM diff d
LEFT JOIN dds.h_user hu ON hu.h_user_pk = d.h_user_pk
LEFT JOIN dds.h_product hp ON d.family = 'product' AND hp.h_product_pk = d.key_pk
LEFT JOIN dds.h_category hc ON d.family = 'category' AND hc.h_category_pk = d.key_pk
UNION ALL
SELECT 'product', NULL, 'keys', false, NULL, NULL, NULL, NULL, (SELECT count(*) FROM product_cmp), NULL, NULL, NULL
UNION ALL
SELECT 'category', NULL, 'keys', false, NULL, NULL, NULL, NULL, (SELECT count(*) FROM category_cmp), NULL, NULL, NULL
UNION ALL
SELECT 'order', NULL, 'orders', false, NULL, NULL, NULL, NULL, (SELECT count(*) FROM counted), NULL, NULL, NULL
