-- DDS: the Data Vault of CONTRACT §6.
CREATE SCHEMA IF NOT EXISTS dds;

CREATE TABLE IF NOT EXISTS dds.h_user (
    h_user_pk uuid PRIMARY KEY,
    user_id   varchar NOT NULL UNIQUE,
    load_dt   timestamp NOT NULL,
    load_src  varchar NOT NULL
);
CREATE TABLE IF NOT EXISTS dds.h_product (
    h_product_pk uuid PRIMARY KEY,
    product_id   varchar NOT NULL UNIQUE,
    load_dt      timestamp NOT NULL,
    load_src     varchar NOT NULL
);
CREATE TABLE IF NOT EXISTS dds.h_category (
    h_category_pk uuid PRIMARY KEY,
    category_name varchar NOT NULL UNIQUE,
    load_dt       timestamp NOT NULL,
    load_src      varchar NOT NULL
);
CREATE TABLE IF NOT EXISTS dds.h_restaurant (
    h_restaurant_pk uuid PRIMARY KEY,
    restaurant_id   varchar NOT NULL UNIQUE,
    load_dt         timestamp NOT NULL,
    load_src        varchar NOT NULL
);
CREATE TABLE IF NOT EXISTS dds.h_order (
    h_order_pk uuid PRIMARY KEY,
    order_id   int NOT NULL UNIQUE,
    order_dt   timestamp NOT NULL,
    load_dt    timestamp NOT NULL,
    load_src   varchar NOT NULL
);

CREATE TABLE IF NOT EXISTS dds.l_order_product (
    hk_order_product_pk uuid PRIMARY KEY,
    h_order_pk   uuid NOT NULL REFERENCES dds.h_order,
    h_product_pk uuid NOT NULL REFERENCES dds.h_product,
    load_dt      timestamp NOT NULL,
    load_src     varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS l_order_product_order ON dds.l_order_product (h_order_pk);
CREATE TABLE IF NOT EXISTS dds.l_product_restaurant (
    hk_product_restaurant_pk uuid PRIMARY KEY,
    h_product_pk    uuid NOT NULL REFERENCES dds.h_product,
    h_restaurant_pk uuid NOT NULL REFERENCES dds.h_restaurant,
    load_dt         timestamp NOT NULL,
    load_src        varchar NOT NULL
);
CREATE TABLE IF NOT EXISTS dds.l_product_category (
    hk_product_category_pk uuid PRIMARY KEY,
    h_product_pk  uuid NOT NULL REFERENCES dds.h_product,
    h_category_pk uuid NOT NULL REFERENCES dds.h_category,
    load_dt       timestamp NOT NULL,
    load_src      varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS l_product_category_product ON dds.l_product_category (h_product_pk);
CREATE TABLE IF NOT EXISTS dds.l_order_user (
    hk_order_user_pk uuid PRIMARY KEY,
    h_order_pk uuid NOT NULL REFERENCES dds.h_order,
    h_user_pk  uuid NOT NULL REFERENCES dds.h_user,
    load_dt    timestamp NOT NULL,
    load_src   varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS l_order_user_order ON dds.l_order_user (h_order_pk);

CREATE TABLE IF NOT EXISTS dds.s_user_names (
    h_user_pk              uuid NOT NULL REFERENCES dds.h_user,
    username               varchar,
    userlogin              varchar,
    hk_user_names_hashdiff uuid NOT NULL,
    load_dt                timestamp NOT NULL,
    load_src               varchar NOT NULL,
    PRIMARY KEY (h_user_pk, load_dt)
);
CREATE TABLE IF NOT EXISTS dds.s_product_names (
    h_product_pk              uuid NOT NULL REFERENCES dds.h_product,
    name                      varchar NOT NULL,
    hk_product_names_hashdiff uuid NOT NULL,
    load_dt                   timestamp NOT NULL,
    load_src                  varchar NOT NULL,
    PRIMARY KEY (h_product_pk, load_dt)
);
CREATE TABLE IF NOT EXISTS dds.s_restaurant_names (
    h_restaurant_pk              uuid NOT NULL REFERENCES dds.h_restaurant,
    name                         varchar NOT NULL,
    hk_restaurant_names_hashdiff uuid NOT NULL,
    load_dt                      timestamp NOT NULL,
    load_src                     varchar NOT NULL,
    PRIMARY KEY (h_restaurant_pk, load_dt)
);
CREATE TABLE IF NOT EXISTS dds.s_order_cost (
    h_order_pk             uuid NOT NULL REFERENCES dds.h_order,
    cost                   numeric(19,5) NOT NULL,
    payment                numeric(19,5) NOT NULL,
    hk_order_cost_hashdiff uuid NOT NULL,
    load_dt                timestamp NOT NULL,
    load_src               varchar NOT NULL,
    PRIMARY KEY (h_order_pk, load_dt),
    UNIQUE (h_order_pk, hk_order_cost_hashdiff)
);
CREATE TABLE IF NOT EXISTS dds.s_order_status (
    h_order_pk               uuid NOT NULL REFERENCES dds.h_order,
    status                   varchar NOT NULL,
    update_ts                timestamp NOT NULL,
    hk_order_status_hashdiff uuid NOT NULL,
    load_dt                  timestamp NOT NULL,
    load_src                 varchar NOT NULL,
    PRIMARY KEY (h_order_pk, load_dt),
    UNIQUE (h_order_pk, hk_order_status_hashdiff)
);

-- Business vault: what each order currently contributes to the counters
-- (rows only while its current status is CLOSED), and the per-user totals.
-- EmitCounters keeps them in step with the raw vault, batch by batch.
CREATE TABLE IF NOT EXISTS dds.b_order_product_counted (
    h_order_pk   uuid NOT NULL,
    h_product_pk uuid NOT NULL,
    h_user_pk    uuid NOT NULL,
    PRIMARY KEY (h_order_pk, h_product_pk)
);
CREATE TABLE IF NOT EXISTS dds.b_order_category_counted (
    h_order_pk    uuid NOT NULL,
    h_category_pk uuid NOT NULL,
    h_user_pk     uuid NOT NULL,
    PRIMARY KEY (h_order_pk, h_category_pk)
);
-- pending marks a counter changed since UpsertCdm last copied it to the marts:
-- any UpsertCdm copies every pending counter (also those of a run that failed
-- after EmitCounters) and clears the flag, under the counters lock.
CREATE TABLE IF NOT EXISTS dds.b_user_product_cnt (
    h_user_pk    uuid NOT NULL,
    h_product_pk uuid NOT NULL,
    order_cnt    int NOT NULL CHECK (order_cnt >= 0),
    pending      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (h_user_pk, h_product_pk)
);
CREATE INDEX IF NOT EXISTS b_user_product_cnt_pending ON dds.b_user_product_cnt (h_user_pk) WHERE pending;
CREATE TABLE IF NOT EXISTS dds.b_user_category_cnt (
    h_user_pk     uuid NOT NULL,
    h_category_pk uuid NOT NULL,
    order_cnt     int NOT NULL CHECK (order_cnt >= 0),
    pending       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (h_user_pk, h_category_pk)
);
CREATE INDEX IF NOT EXISTS b_user_category_cnt_pending ON dds.b_user_category_cnt (h_user_pk) WHERE pending;
