-- CDM: the two marts of CONTRACT §8.
CREATE SCHEMA IF NOT EXISTS cdm;

CREATE TABLE IF NOT EXISTS cdm.user_product_counters (
    id           serial PRIMARY KEY,
    user_id      uuid NOT NULL,
    product_id   uuid NOT NULL,
    product_name varchar NOT NULL,
    order_cnt    int NOT NULL CHECK (order_cnt >= 0),
    UNIQUE (user_id, product_id)
);
CREATE TABLE IF NOT EXISTS cdm.user_category_counters (
    id            serial PRIMARY KEY,
    user_id       uuid NOT NULL,
    category_id   uuid NOT NULL,
    category_name varchar NOT NULL,
    order_cnt     int NOT NULL CHECK (order_cnt >= 0),
    UNIQUE (user_id, category_id)
);
