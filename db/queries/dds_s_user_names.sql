-- A row only when the hashdiff differs from the user's latest row.
INSERT INTO dds.s_user_names (h_user_pk, username, userlogin, hk_user_names_hashdiff, load_dt, load_src)
SELECT u.pk, u.name, u.login, u.hd, $5::timestamp, $6
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[]) AS u(pk, name, login, hd)
WHERE u.hd IS DISTINCT FROM (SELECT s.hk_user_names_hashdiff FROM dds.s_user_names s
                             WHERE s.h_user_pk = u.pk ORDER BY s.load_dt DESC LIMIT 1)
ORDER BY 1
ON CONFLICT DO NOTHING
