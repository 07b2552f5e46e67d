-- Categories by share of users ($1 = 'users') or of orders (otherwise), $2
-- rows from $3, in the order of the ranks of bi.category_popularity (which
-- DataLens reads too); total is the number of categories, total_users the
-- users with a counted order.
SELECT category_id::text, category_name, users, orders,
       users_pct::float8, orders_pct::float8, count(*) OVER () AS total, total_users
FROM bi.category_popularity
ORDER BY CASE WHEN $1 = 'users' THEN users_rank ELSE orders_rank END
LIMIT $2 OFFSET $3
