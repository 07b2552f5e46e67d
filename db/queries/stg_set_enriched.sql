UPDATE stg.batches SET orders = $2, rejected = $3 WHERE batch_id = $1
