-- Rejected messages per reason (every reason of CONTRACT §9 even at 0, and any
-- other stored): open ones wait for a fix and `orderflow reprocess`;
-- resolved ones were re-queued.
WITH m AS (
    SELECT reason,
           count(*) FILTER (WHERE resolved_at IS NULL) AS open,
           count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved
    FROM stg.rejected_messages
    GROUP BY reason
)
SELECT reason, coalesce(m.open, 0) AS open, coalesce(m.resolved, 0) AS resolved
FROM (VALUES ('malformed_json'), ('invalid_order'), ('ignored_object_type'),
             ('unknown_restaurant'), ('product_not_in_menu')) AS r(reason)
FULL JOIN m USING (reason)
ORDER BY open DESC, resolved DESC, reason
