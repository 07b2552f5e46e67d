package activities

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/observe"
)

// UpsertCdm copies every counter changed since the last copy (this batch's,
// and any left by a run that failed after EmitCounters) into the marts, with
// the latest product and category names, and renames the products this
// batch renamed. Each family is copied in its own transaction under its
// lock, at once on two connections; it copies current values, so
// interleaved pipelines leave the marts equal to the counters.
func (a *Activities) UpsertCdm(ctx context.Context, in BatchInput) (UpsertCdmResult, error) {
	defer heartbeat(ctx)()
	var res UpsertCdmResult
	if err := a.runHook(ctx, a.DB.Cdm, UpsertCdmName, in.Batch.BatchID); err != nil {
		return res, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return withCounters(gctx, a.DB.Cdm, func(tx pgx.Tx) error {
			tag, err := tx.Exec(gctx, db.Query("cdm_upsert_products"))
			if err != nil {
				return fmt.Errorf("upsert cdm.user_product_counters: %w", err)
			}
			res.ProductRows = tag.RowsAffected()
			if tag, err = tx.Exec(gctx, db.Query("cdm_rename_products"), in.Batch.LoadDT); err != nil {
				return fmt.Errorf("rename products in cdm.user_product_counters: %w", err)
			}
			res.ProductRows += tag.RowsAffected()
			return nil
		}, productCounters)
	})
	g.Go(func() error {
		return withCounters(gctx, a.DB.Cdm, func(tx pgx.Tx) error {
			tag, err := tx.Exec(gctx, db.Query("cdm_upsert_categories"))
			if err != nil {
				return fmt.Errorf("upsert cdm.user_category_counters: %w", err)
			}
			res.CategoryRows = tag.RowsAffected()
			return nil
		}, categoryCounters)
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
