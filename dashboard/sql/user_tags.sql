-- A user's tags.
SELECT tag, rule_id, order_cnt, threshold
FROM cdm.user_tags
WHERE user_id = $1
ORDER BY tag
