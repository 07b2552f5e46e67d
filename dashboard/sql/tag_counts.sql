-- How many users hold each tag (bi.tag_counts, which DataLens reads too).
SELECT rule_id, tag, target_kind, target, target_label, threshold, users
FROM bi.tag_counts
ORDER BY users DESC, tag
