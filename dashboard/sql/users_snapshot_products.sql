-- Every user's product counters above 0, in user_products.sql's order.
SELECT c.user_id::text, hp.product_id, c.product_id::text, c.product_name, c.order_cnt
FROM cdm.user_product_counters c
JOIN dds.h_product hp ON hp.h_product_pk = c.product_id
WHERE c.order_cnt > 0
ORDER BY c.user_id, c.order_cnt DESC, c.product_name, hp.product_id
