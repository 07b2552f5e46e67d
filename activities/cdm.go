package activities

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/observe"
)

// UpsertCdm copies the touched users' counters into the marts, with the
// latest product and category names. It takes the counters lock, so the last
// pipeline to write writes the newest totals.
func (a *Activities) UpsertCdm(ctx context.Context, in BatchInput) (UpsertCdmResult, error) {
	defer heartbeat(ctx)()
	var res UpsertCdmResult
	err := pgx.BeginFunc(ctx, a.DB.Cdm, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, db.Query("counters_lock")); err != nil {
			return fmt.Errorf("counters lock: %w", err)
		}
		tag, err := tx.Exec(ctx, db.Query("cdm_upsert_products"), in.Batch.BatchID)
		if err != nil {
			return fmt.Errorf("upsert cdm.user_product_counters: %w", err)
		}
		res.ProductRows = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, db.Query("cdm_upsert_categories"), in.Batch.BatchID); err != nil {
			return fmt.Errorf("upsert cdm.user_category_counters: %w", err)
		}
		res.CategoryRows = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return res, classify(err)
	}
	observe.AddRows("cdm.user_product_counters", res.ProductRows)
	observe.AddRows("cdm.user_category_counters", res.CategoryRows)
	return res, nil
}
