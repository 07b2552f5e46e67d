-- One row per distinct (order, hashdiff): the version's user, restaurant and
-- products ($6/$7: the batch's (order, product) pairs, aggregated per order).
INSERT INTO dds.s_order_owner (h_order_pk, h_user_pk, h_restaurant_pk, h_product_pks, update_ts,
                               hk_order_owner_hashdiff, load_dt, load_src)
SELECT o.pk, o.user_pk, o.rest_pk, p.pks, o.update_ts, o.hd, $8::timestamp, $9
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamp[], $5::uuid[]) AS o(pk, user_pk, rest_pk, update_ts, hd)
JOIN (SELECT l.pk, array_agg(DISTINCT l.prod ORDER BY l.prod) AS pks
      FROM unnest($6::uuid[], $7::uuid[]) AS l(pk, prod)
      GROUP BY l.pk) p USING (pk)
ORDER BY 1
ON CONFLICT DO NOTHING
