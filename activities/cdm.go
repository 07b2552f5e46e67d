package activities

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/observe"
)

// UpsertCdm copies every counter changed since the last copy (this batch's,
// and any left by a run that failed after EmitCounters) into the marts, with
// the latest product and category names, and renames the products this
// batch renamed. The two families are copied at once on two connections,
// each bucket of users in its own transaction under that bucket's copy lock
// (copyCounters); it copies current values, so interleaved pipelines leave
// the marts equal to the counters.
func (a *Activities) UpsertCdm(ctx context.Context, in BatchInput) (UpsertCdmResult, error) {
	defer heartbeat(ctx)()
	var res UpsertCdmResult
	if err := a.runHook(ctx, a.DB.Cdm, UpsertCdmName, in.Batch.BatchID); err != nil {
		return res, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		res.ProductRows, err = copyCounters(gctx, a.DB.Cdm, productCounters, func(tx pgx.Tx, lo, hi uuid.UUID) (int64, error) {
			tag, err := tx.Exec(gctx, db.Query("cdm_upsert_products"), lo, hi)
			if err != nil {
				return 0, fmt.Errorf("upsert cdm.user_product_counters: %w", err)
			}
			renamed, err := tx.Exec(gctx, db.Query("cdm_rename_products"), in.Batch.LoadDT, lo, hi)
			if err != nil {
				return 0, fmt.Errorf("rename products in cdm.user_product_counters: %w", err)
			}
			return tag.RowsAffected() + renamed.RowsAffected(), nil
		})
		return err
	})
	g.Go(func() (err error) {
		res.CategoryRows, err = copyCounters(gctx, a.DB.Cdm, categoryCounters, func(tx pgx.Tx, lo, hi uuid.UUID) (int64, error) {
			tag, err := tx.Exec(gctx, db.Query("cdm_upsert_categories"), lo, hi)
			if err != nil {
				return 0, fmt.Errorf("upsert cdm.user_category_counters: %w", err)
			}
			return tag.RowsAffected(), nil
		})
		return err
	})
	if err := g.Wait(); err != nil {
		return res, classify(err)
	}
	// Readers that keep answers (the API) drop them now. A lost signal
	// only makes their answers older (they expire anyway), so it does not
	// fail the batch.
	if _, err := a.DB.Cdm.Exec(ctx, "SELECT pg_notify($1, $2)", db.MartsRefreshed, in.Batch.BatchID); err != nil && a.Log != nil {
		a.Log.Warn("signal the marts' refresh", "batch", in.Batch.BatchID, "err", err)
	}
	observe.AddRows("cdm.user_product_counters", res.ProductRows)
	observe.AddRows("cdm.user_category_counters", res.CategoryRows)
	return res, nil
}
