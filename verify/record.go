package verify

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/db"
)

// Querier is what Record needs: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DetailLimit is how many differences Record keeps in a run's detail.
const DetailLimit = 100

// Record stores the report in stg.verify_runs and returns the run's id.
func Record(ctx context.Context, q Querier, r Report) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, db.Query("verify_record"), r.StartedAt, r.Duration.Milliseconds(),
		r.RowsChecked(), r.Mismatches(), r.OrphanRows(), r.Detail(DetailLimit)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record the verify run: %w", err)
	}
	return id, nil
}
