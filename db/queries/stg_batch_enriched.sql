-- The batch's enriched orders, for stg-service-orders and the Data Vault.
SELECT object_id, update_ts, enriched
FROM stg.batch_orders
WHERE batch_id = $1
ORDER BY object_id
