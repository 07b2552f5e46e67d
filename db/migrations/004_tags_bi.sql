-- User tags (CONTRACT §13), the indexes the dashboard and its API need, and the
-- read-only views and role DataLens connects with (docs/DATALENS.md).

-- A tag rule: a user holds `tag` while the counter the rule names reaches
-- `threshold`. The counter is exactly one of
--   category_name  the user's cdm.user_category_counters row of that category;
--   product_id     the user's cdm.user_product_counters row of that product
--                  (the SOURCE product id, as in dds.h_product.product_id);
--   product_name   the sum of the user's product counters whose (latest) name
--                  is exactly this; the same dish sold by several restaurants
--                  has one product id per restaurant, and a name rule covers
--                  them all (an order holding two products of that name
--                  would count twice; the order-service never sends one).
-- Rules are plain rows: add, change or delete them with SQL; cdm.user_tags
-- follows at once. The defaults come from 005_tag_rules_seed.sql.
CREATE TABLE IF NOT EXISTS cdm.tag_rules (
    id            serial PRIMARY KEY,
    tag           varchar NOT NULL UNIQUE CHECK (btrim(tag) <> ''),
    category_name varchar,
    product_id    varchar,
    product_name  varchar,
    threshold     int NOT NULL CHECK (threshold > 0),
    -- the DDS hub keys of the target (CONTRACT §6), so the view joins the marts on their keys
    h_category_pk uuid GENERATED ALWAYS AS
        (uuid_generate_v5('7f288a2e-0ad0-4039-8e59-6c9838d87307'::uuid, category_name)) STORED,
    h_product_pk  uuid GENERATED ALWAYS AS
        (uuid_generate_v5('7f288a2e-0ad0-4039-8e59-6c9838d87307'::uuid, product_id)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tag_rules_one_target CHECK (num_nonnulls(category_name, product_id, product_name) = 1)
);
COMMENT ON TABLE cdm.tag_rules IS
    'User tag rules: a user holds tag while the counter of category_name, product_id (source id) or product_name (sum over products of that name) reaches threshold. Edit with SQL.';

-- Each user's tags, computed from the marts on every read, so it can never
-- disagree with them: a cancelled order lowers a counter and the tag goes.
-- order_cnt is the counter the rule names.
CREATE OR REPLACE VIEW cdm.user_tags AS
SELECT c.user_id, r.tag, r.id AS rule_id, c.order_cnt, r.threshold
FROM cdm.tag_rules r
JOIN cdm.user_category_counters c ON c.category_id = r.h_category_pk
WHERE r.category_name IS NOT NULL AND c.order_cnt >= r.threshold
UNION ALL
SELECT p.user_id, r.tag, r.id, p.order_cnt, r.threshold
FROM cdm.tag_rules r
JOIN cdm.user_product_counters p ON p.product_id = r.h_product_pk
WHERE r.product_id IS NOT NULL AND p.order_cnt >= r.threshold
UNION ALL
SELECT p.user_id, r.tag, r.id, sum(p.order_cnt)::int, r.threshold
FROM cdm.tag_rules r
JOIN cdm.user_product_counters p ON p.product_name = r.product_name
WHERE r.product_name IS NOT NULL
GROUP BY p.user_id, r.id
HAVING sum(p.order_cnt) >= r.threshold;
COMMENT ON VIEW cdm.user_tags IS 'Each user''s tags (user_id = h_user_pk), from cdm.tag_rules over the marts.';

-- Tag rules find their counters by product and by dish name; the dish
-- chart groups by name and user in this order. order_cnt stays out of every
-- index, so the pipeline's counter updates remain HOT updates.
CREATE INDEX IF NOT EXISTS user_product_counters_product
    ON cdm.user_product_counters (product_id);
CREATE INDEX IF NOT EXISTS user_product_counters_name_user
    ON cdm.user_product_counters (product_name, user_id);
-- The dashboard's last batches, running ones included.
CREATE INDEX IF NOT EXISTS batches_started ON stg.batches (started_at DESC);

-- BI: read-only views over the marts, one per dashboard chart, and the tags.
-- The dashboard draws its charts from these same views.
CREATE SCHEMA IF NOT EXISTS bi;
COMMENT ON SCHEMA bi IS 'Read-only views over the CDM marts for BI tools (DataLens); role orderflow_bi may read them.';

-- Category popularity. users: users with at least one counted order of the
-- category; orders: counted (CLOSED, current) orders holding the category.
-- users_pct: share of all users with a counted order; orders_pct: share of
-- all category orders (an order with two categories counts once in each).
-- users_rank and orders_rank number the rows by users (then orders, name)
-- and by orders (then users, name): "top 10" is rank <= 10 in a BI tool.
CREATE OR REPLACE VIEW bi.category_popularity AS
WITH c AS MATERIALIZED (
    SELECT category_id, min(category_name) AS category_name,
           count(*) FILTER (WHERE order_cnt > 0) AS users,
           sum(order_cnt)::bigint AS orders
    FROM cdm.user_category_counters
    GROUP BY category_id
), t AS MATERIALIZED (
    SELECT (SELECT count(*) FROM (SELECT DISTINCT user_id FROM cdm.user_category_counters
                                  WHERE order_cnt > 0) u) AS users,
           (SELECT sum(orders) FROM c)::bigint AS orders
)
SELECT c.category_id, c.category_name, c.users, c.orders,
       round(100.0 * c.users / nullif(t.users, 0), 1) AS users_pct,
       round(100.0 * c.orders / nullif(t.orders, 0), 1) AS orders_pct,
       row_number() OVER (ORDER BY c.users DESC, c.orders DESC, c.category_name) AS users_rank,
       row_number() OVER (ORDER BY c.orders DESC, c.users DESC, c.category_name) AS orders_rank,
       t.users AS total_users, t.orders AS total_orders
FROM c CROSS JOIN t
WHERE c.users > 0;

-- Dish popularity: a dish is a product name (the same dish of several
-- restaurants is one dish). users: distinct users with a counted order of
-- it; orders: counted orders holding it. Shares and ranks as in
-- category_popularity.
CREATE OR REPLACE VIEW bi.dish_popularity AS
WITH d AS MATERIALIZED (
    SELECT product_name AS dish,
           count(DISTINCT user_id) FILTER (WHERE order_cnt > 0) AS users,
           sum(order_cnt)::bigint AS orders,
           count(DISTINCT product_id) AS products
    FROM cdm.user_product_counters
    GROUP BY product_name
), t AS MATERIALIZED (
    -- a user with a counted order of a product has one of its category:
    -- the (smaller) category mart gives the same users
    SELECT (SELECT count(*) FROM (SELECT DISTINCT user_id FROM cdm.user_category_counters
                                  WHERE order_cnt > 0) u) AS users,
           (SELECT sum(orders) FROM d)::bigint AS orders
)
SELECT d.dish, d.users, d.orders, d.products,
       round(100.0 * d.users / nullif(t.users, 0), 1) AS users_pct,
       round(100.0 * d.orders / nullif(t.orders, 0), 1) AS orders_pct,
       row_number() OVER (ORDER BY d.users DESC, d.orders DESC, d.dish) AS users_rank,
       row_number() OVER (ORDER BY d.orders DESC, d.users DESC, d.dish) AS orders_rank,
       t.users AS total_users, t.orders AS total_orders
FROM d CROSS JOIN t
WHERE d.users > 0;

-- How many users hold each tag (every rule, holders or not). target is
-- what the rule names; target_label adds a product's latest name.
CREATE OR REPLACE VIEW bi.tag_counts AS
SELECT r.id AS rule_id, r.tag,
       CASE WHEN r.category_name IS NOT NULL THEN 'category'
            WHEN r.product_id IS NOT NULL THEN 'product'
            ELSE 'product_name' END AS target_kind,
       coalesce(r.category_name, r.product_id, r.product_name) AS target,
       coalesce(r.category_name, r.product_name,
                (SELECT s.name FROM dds.s_product_names s WHERE s.h_product_pk = r.h_product_pk
                 ORDER BY s.load_dt DESC LIMIT 1) || ' (' || r.product_id || ')',
                r.product_id) AS target_label,
       r.threshold,
       count(t.user_id) AS users
FROM cdm.tag_rules r
LEFT JOIN cdm.user_tags t ON t.rule_id = r.id
GROUP BY r.id;

-- Each user's tags, by source user id.
CREATE OR REPLACE VIEW bi.user_tags AS
SELECT h.user_id, t.user_id AS h_user_pk, t.tag, t.order_cnt, t.threshold
FROM cdm.user_tags t
JOIN dds.h_user h ON h.h_user_pk = t.user_id;

-- The role BI tools read with: NOLOGIN; grant it to a login role
-- (docs/DATALENS.md). Roles are cluster-wide, so another database (or a
-- concurrent migration) may have created it already. A migration user
-- without CREATEROLE (a managed cluster) skips it with a warning; an admin
-- then creates the role and runs these grants (docs/DATALENS.md).
DO $$
BEGIN
    BEGIN
        CREATE ROLE orderflow_bi NOLOGIN;
    EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
            RAISE WARNING 'orderflow: cannot create role orderflow_bi (%); see docs/DATALENS.md', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_bi') THEN
        GRANT USAGE ON SCHEMA bi TO orderflow_bi;
        GRANT SELECT ON ALL TABLES IN SCHEMA bi TO orderflow_bi;
        ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO orderflow_bi;
    END IF;
END
$$;
