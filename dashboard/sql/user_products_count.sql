SELECT count(*) FROM cdm.user_product_counters WHERE user_id = $1 AND order_cnt > 0
