-- A poison record's order version leaves the vault: its status, cost and
-- owner rows that the failed batch and its parts wrote (load_dt in [$2, $3)).
-- Hubs and links stay (the vault keeps every link it saw; which version is
-- current is decided by the satellites). $1: the order's hub key; $4, $5,
-- $6: the version's status, cost and owner hashdiffs.
WITH s AS (
    DELETE FROM dds.s_order_status
    WHERE h_order_pk = $1 AND hk_order_status_hashdiff = $4 AND load_dt >= $2 AND load_dt < $3
), c AS (
    DELETE FROM dds.s_order_cost
    WHERE h_order_pk = $1 AND hk_order_cost_hashdiff = $5 AND load_dt >= $2 AND load_dt < $3
)
DELETE FROM dds.s_order_owner
WHERE h_order_pk = $1 AND hk_order_owner_hashdiff = $6 AND load_dt >= $2 AND load_dt < $3
