-- CONTRACT §6, 14: no link or satellite may point at a missing hub (the FOREIGN
-- KEY constraints are optional). One row per (table, column naming a hub):
-- the rows checked and those whose key names no hub row. An anti-join per
-- column (hash or merge join): the cost follows the table, once. The test
-- TestOrphanCheckCoversEveryLinkAndSatellite fails when a dds.l_* or dds.s_*
-- table has a hub column missing here.
SELECT 'dds.l_order_product' AS tbl, 'h_order_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_order_pk IS NULL) AS orphans
FROM dds.l_order_product t LEFT JOIN dds.h_order h ON h.h_order_pk = t.h_order_pk
UNION ALL
SELECT 'dds.l_order_product' AS tbl, 'h_product_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_product_pk IS NULL) AS orphans
FROM dds.l_order_product t LEFT JOIN dds.h_product h ON h.h_product_pk = t.h_product_pk
UNION ALL
SELECT 'dds.l_product_restaurant' AS tbl, 'h_product_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_product_pk IS NULL) AS orphans
FROM dds.l_product_restaurant t LEFT JOIN dds.h_product h ON h.h_product_pk = t.h_product_pk
UNION ALL
SELECT 'dds.l_product_restaurant' AS tbl, 'h_restaurant_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_restaurant_pk IS NULL) AS orphans
FROM dds.l_product_restaurant t LEFT JOIN dds.h_restaurant h ON h.h_restaurant_pk = t.h_restaurant_pk
UNION ALL
SELECT 'dds.l_product_category' AS tbl, 'h_product_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_product_pk IS NULL) AS orphans
FROM dds.l_product_category t LEFT JOIN dds.h_product h ON h.h_product_pk = t.h_product_pk
UNION ALL
SELECT 'dds.l_product_category' AS tbl, 'h_category_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_category_pk IS NULL) AS orphans
FROM dds.l_product_category t LEFT JOIN dds.h_category h ON h.h_category_pk = t.h_category_pk
UNION ALL
SELECT 'dds.l_order_user' AS tbl, 'h_order_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_order_pk IS NULL) AS orphans
FROM dds.l_order_user t LEFT JOIN dds.h_order h ON h.h_order_pk = t.h_order_pk
UNION ALL
SELECT 'dds.l_order_user' AS tbl, 'h_user_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_user_pk IS NULL) AS orphans
FROM dds.l_order_user t LEFT JOIN dds.h_user h ON h.h_user_pk = t.h_user_pk
UNION ALL
SELECT 'dds.s_user_names' AS tbl, 'h_user_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_user_pk IS NULL) AS orphans
FROM dds.s_user_names t LEFT JOIN dds.h_user h ON h.h_user_pk = t.h_user_pk
UNION ALL
SELECT 'dds.s_product_names' AS tbl, 'h_product_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_product_pk IS NULL) AS orphans
FROM dds.s_product_names t LEFT JOIN dds.h_product h ON h.h_product_pk = t.h_product_pk
UNION ALL
SELECT 'dds.s_restaurant_names' AS tbl, 'h_restaurant_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_restaurant_pk IS NULL) AS orphans
FROM dds.s_restaurant_names t LEFT JOIN dds.h_restaurant h ON h.h_restaurant_pk = t.h_restaurant_pk
UNION ALL
SELECT 'dds.s_order_cost' AS tbl, 'h_order_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_order_pk IS NULL) AS orphans
FROM dds.s_order_cost t LEFT JOIN dds.h_order h ON h.h_order_pk = t.h_order_pk
UNION ALL
SELECT 'dds.s_order_status' AS tbl, 'h_order_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_order_pk IS NULL) AS orphans
FROM dds.s_order_status t LEFT JOIN dds.h_order h ON h.h_order_pk = t.h_order_pk
UNION ALL
SELECT 'dds.s_order_owner' AS tbl, 'h_order_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_order_pk IS NULL) AS orphans
FROM dds.s_order_owner t LEFT JOIN dds.h_order h ON h.h_order_pk = t.h_order_pk
UNION ALL
SELECT 'dds.s_order_owner' AS tbl, 'h_user_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_user_pk IS NULL) AS orphans
FROM dds.s_order_owner t LEFT JOIN dds.h_user h ON h.h_user_pk = t.h_user_pk
UNION ALL
SELECT 'dds.s_order_owner' AS tbl, 'h_restaurant_pk' AS col, count(*) AS total, count(*) FILTER (WHERE h.h_restaurant_pk IS NULL) AS orphans
FROM dds.s_order_owner t LEFT JOIN dds.h_restaurant h ON h.h_restaurant_pk = t.h_restaurant_pk
UNION ALL
-- every product of a version's h_product_pks, one by one
SELECT 'dds.s_order_owner', 'h_product_pks', count(*), count(*) FILTER (WHERE h.h_product_pk IS NULL)
FROM dds.s_order_owner t CROSS JOIN LATERAL unnest(t.h_product_pks) AS p(h_product_pk)
LEFT JOIN dds.h_product h ON h.h_product_pk = p.h_product_pk
