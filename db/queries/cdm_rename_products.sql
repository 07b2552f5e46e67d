-- Products this batch renamed (a new s_product_names row at the batch's
-- load_dt): every mart row of theirs takes the new name.
UPDATE cdm.user_product_counters m
SET product_name = s.name
FROM dds.s_product_names s
WHERE s.load_dt = $1 AND s.h_product_pk = m.product_id AND m.product_name IS DISTINCT FROM s.name
