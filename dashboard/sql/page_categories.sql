-- Both category charts from one read of bi.category_popularity: the rows by
-- share of users (by = 'users') and by share of orders (by = 'orders'), top
-- $1 each by the view's ranks; total_users is the number of users with a
-- counted order.
WITH c AS MATERIALIZED (
    SELECT category_name, users, orders, users_pct::float8 AS users_pct,
           orders_pct::float8 AS orders_pct, total_users, users_rank, orders_rank
    FROM bi.category_popularity
)
SELECT by, category_name, users, orders, users_pct, orders_pct, total_users
FROM (SELECT 'users' AS by, users_rank AS rank, * FROM c WHERE users_rank <= $1
      UNION ALL
      SELECT 'orders', orders_rank, * FROM c WHERE orders_rank <= $1) x
ORDER BY by, rank
