-- One lock for the name satellites (s_user_names, s_product_names,
-- s_restaurant_names), held until the transaction ends. Their inserts compare
-- with the key's latest row, which a concurrent pipeline's uncommitted row
-- is not yet part of; taking turns makes the second one see the first's row,
-- so two shards loading the same product add one row, not two.
SELECT pg_advisory_xact_lock(7954880413474652532)
