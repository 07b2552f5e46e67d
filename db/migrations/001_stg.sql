-- STG: the raw current version of every order, rejected messages, and the
-- working tables that carry one batch between activities.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE SCHEMA IF NOT EXISTS stg;

CREATE TABLE IF NOT EXISTS stg.order_events (
    id          serial PRIMARY KEY,
    object_id   int NOT NULL UNIQUE,
    payload     json NOT NULL,
    object_type varchar NOT NULL,
    sent_dttm   timestamp NOT NULL,
    -- Decision: payload.update_ts as a column, so "an older version never
    -- overwrites a newer" compares timestamps, not text.
    update_ts   timestamp NOT NULL
);

CREATE TABLE IF NOT EXISTS stg.rejected_messages (
    id          bigserial PRIMARY KEY,
    topic       varchar NOT NULL,
    "partition" int NOT NULL,
    "offset"    bigint NOT NULL,
    record_ts   timestamp,
    raw         bytea NOT NULL,
    reason      varchar NOT NULL CHECK (reason IN ('malformed_json', 'invalid_order',
                    'ignored_object_type', 'unknown_restaurant', 'product_not_in_menu')),
    detail      text NOT NULL,
    object_id   bigint,
    batch_id    text,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolution  text,
    UNIQUE (topic, "partition", "offset")
);
CREATE INDEX IF NOT EXISTS rejected_messages_open ON stg.rejected_messages (reason) WHERE resolved_at IS NULL;

-- One row per batch: what operators and the dashboard see.
CREATE TABLE IF NOT EXISTS stg.batches (
    batch_id     text PRIMARY KEY,
    shard        int NOT NULL,
    shards       int NOT NULL,
    load_dt      timestamp NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    ranges       jsonb NOT NULL,
    fetched      int NOT NULL,
    backlog      bigint NOT NULL,
    orders       int,
    rejected     int,
    committed_at timestamptz
);
CREATE INDEX IF NOT EXISTS batches_committed ON stg.batches (committed_at DESC);

-- A batch's raw records, from FetchBatch until its offsets are committed.
CREATE TABLE IF NOT EXISTS stg.batch_messages (
    batch_id    text NOT NULL,
    "partition" int NOT NULL,
    "offset"    bigint NOT NULL,
    record_ts   timestamp NOT NULL,
    value       bytea NOT NULL,
    PRIMARY KEY (batch_id, "partition", "offset")
);

-- A batch's orders (the batch's current version of each), enriched.
CREATE TABLE IF NOT EXISTS stg.batch_orders (
    batch_id    text NOT NULL,
    object_id   int NOT NULL,
    h_order_pk  uuid NOT NULL,
    h_user_pk   uuid NOT NULL,
    "partition" int NOT NULL,
    "offset"    bigint NOT NULL,
    sent_dttm   timestamp NOT NULL,
    update_ts   timestamp NOT NULL,
    -- text, not json: validated once, when it reaches stg.order_events
    payload     text NOT NULL,
    enriched    text NOT NULL,
    PRIMARY KEY (batch_id, object_id)
);
