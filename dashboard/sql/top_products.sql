-- Products by distinct users ($1 = 'users') or by orders (otherwise), $2
-- rows from $3, with the source id, latest name and restaurant; total is the
-- number of products with a counted order.
WITH p AS (
    SELECT product_id,
           count(*) FILTER (WHERE order_cnt > 0) AS users,
           sum(order_cnt)::bigint AS orders
    FROM cdm.user_product_counters
    GROUP BY product_id
    HAVING sum(order_cnt) > 0
), page AS (
    SELECT p.*, count(*) OVER () AS total
    FROM p
    ORDER BY CASE WHEN $1 = 'users' THEN p.users ELSE p.orders END DESC,
             CASE WHEN $1 = 'users' THEN p.orders ELSE p.users END DESC,
             p.product_id
    LIMIT $2 OFFSET $3
)
SELECT hp.product_id, page.product_id::text, pn.name, rn.name, page.users, page.orders, page.total
FROM page
JOIN dds.h_product hp ON hp.h_product_pk = page.product_id
LEFT JOIN LATERAL (SELECT s.name FROM dds.s_product_names s
                   WHERE s.h_product_pk = page.product_id ORDER BY s.load_dt DESC LIMIT 1) pn ON true
LEFT JOIN LATERAL (SELECT r.name FROM dds.l_product_restaurant l
                   JOIN dds.s_restaurant_names r USING (h_restaurant_pk)
                   WHERE l.h_product_pk = page.product_id ORDER BY r.load_dt DESC LIMIT 1) rn ON true
ORDER BY CASE WHEN $1 = 'users' THEN page.users ELSE page.orders END DESC,
         CASE WHEN $1 = 'users' THEN page.orders ELSE page.users END DESC,
         page.product_id
