-- Every user's tags, in user_tags.sql's order.
SELECT user_id::text, tag, rule_id, order_cnt, threshold
FROM cdm.user_tags
ORDER BY user_id, tag
