-- A user's category counters above 0, biggest first.
SELECT category_id::text, category_name, order_cnt
FROM cdm.user_category_counters
WHERE user_id = $1 AND order_cnt > 0
ORDER BY order_cnt DESC, category_name
