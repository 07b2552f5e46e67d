-- Every user with the latest name and login (null when unknown), as
-- user.sql reads one.
SELECT h.h_user_pk::text, h.user_id, n.username, n.userlogin
FROM dds.h_user h
LEFT JOIN (
    SELECT DISTINCT ON (s.h_user_pk) s.h_user_pk, s.username, s.userlogin
    FROM dds.s_user_names s
    ORDER BY s.h_user_pk, s.load_dt DESC
) n USING (h_user_pk)
