-- Products this batch renamed (a new s_product_names row at the batch's
-- load_dt, $1): every mart row of theirs in one bucket of users ($2, $3: its
-- smallest and largest user key) takes the new name.
UPDATE cdm.user_product_counters m
SET product_name = s.name
FROM dds.s_product_names s
WHERE s.load_dt = $1 AND s.h_product_pk = m.product_id AND m.product_name IS DISTINCT FROM s.name
  AND m.user_id BETWEEN $2::uuid AND $3::uuid
