-- Every user's category counters above 0, in user_categories.sql's order.
SELECT user_id::text, category_id::text, category_name, order_cnt
FROM cdm.user_category_counters
WHERE order_cnt > 0
ORDER BY user_id, order_cnt DESC, category_name
