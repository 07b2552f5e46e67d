-- Both dish charts from one read of bi.dish_popularity: the top $1 dishes by
-- distinct users (by = 'users') and the top $1 by orders (by = 'orders'),
-- by the view's ranks, which DataLens filters on too.
WITH d AS MATERIALIZED (
    SELECT dish, users, orders, users_pct::float8 AS users_pct, orders_pct::float8 AS orders_pct,
           users_rank, orders_rank
    FROM bi.dish_popularity
)
SELECT by, dish, users, orders, users_pct, orders_pct
FROM (SELECT 'users' AS by, users_rank AS rank, * FROM d WHERE users_rank <= $1
      UNION ALL
      SELECT 'orders', orders_rank, * FROM d WHERE orders_rank <= $1) x
ORDER BY by, rank
