-- A user by source id, with the latest name and login (null when unknown).
SELECT h.h_user_pk::text, h.user_id, n.username, n.userlogin
FROM dds.h_user h
LEFT JOIN LATERAL (
    SELECT s.username, s.userlogin FROM dds.s_user_names s
    WHERE s.h_user_pk = h.h_user_pk ORDER BY s.load_dt DESC LIMIT 1
) n ON true
WHERE h.user_id = $1
