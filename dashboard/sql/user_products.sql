-- One page of a user's product counters above 0, biggest first, with the
-- product's source id; $2 rows from $3.
SELECT hp.product_id, c.product_id::text, c.product_name, c.order_cnt
FROM cdm.user_product_counters c
JOIN dds.h_product hp ON hp.h_product_pk = c.product_id
WHERE c.user_id = $1 AND c.order_cnt > 0
ORDER BY c.order_cnt DESC, c.product_name, hp.product_id
LIMIT $2 OFFSET $3
