// Package verify checks the warehouse against itself (CONTRACT §14): it
// recomputes both marts from the raw vault alone, in set-based SQL with no
// incremental state (db/queries/verify_counters.sql), compares the result
// with the per-user counters (dds.b_user_*_cnt) and the marts
// (cdm.user_*_counters), names included, and checks that no link or
// satellite names a missing hub (db/queries/verify_orphans.sql).
//
// Everything is read in one REPEATABLE READ snapshot. Every counter fold
// and mart copy is one transaction (one bucket of keys, one family), so no
// pipeline is half-way through one in what Verify sees, and Verify takes
// no lock that could stop a pipeline. A batch can still be between its
// vault load and its mart copy: a difference it explains (its user is in an
// order of a batch whose working rows still exist, or its mart row waits to
// be copied) is reported apart, in InFlight, and is not a mismatch. Run it
// again when the pipeline is idle to see those settle.
package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// Difference is one counter or name that is not what the vault implies.
type Difference struct {
	Family string `json:"family"` // "product" or "category"
	Table  string `json:"table"`  // the table that disagrees: dds.b_user_*_cnt or cdm.user_*_counters
	Kind   string `json:"kind"`   // "count" (order_cnt) or "name" (the mart's product or category name)
	// User is the h_user_pk; UserID its source id ("" when h_user has no such row).
	User   uuid.UUID `json:"user"`
	UserID string    `json:"user_id,omitempty"`
	// Key is the h_product_pk or h_category_pk; KeyName the source product
	// id or the category name ("" when the hub has no such row).
	Key     uuid.UUID `json:"key"`
	KeyName string    `json:"key_name,omitempty"`
	// Want and Got are order_cnt (0 for an absent row) for Kind "count".
	Want int64 `json:"want"`
	Got  int64 `json:"got"`
	// WantName and GotName are the names for Kind "name".
	WantName string `json:"want_name,omitempty"`
	GotName  string `json:"got_name,omitempty"`
}

// String is one line: the table, the counter, want and got.
func (d Difference) String() string {
	who := "user " + label(d.UserID, d.User)
	what := d.Family + " " + label(d.KeyName, d.Key)
	if d.Kind == "name" {
		if d.WantName == "" {
			return fmt.Sprintf("%s: %s %s: name %q, want none (the vault has no name for it)", d.Table, who, what, d.GotName)
		}
		return fmt.Sprintf("%s: %s %s: name %q, want %q", d.Table, who, what, d.GotName, d.WantName)
	}
	return fmt.Sprintf("%s: %s %s: order_cnt %d, want %d", d.Table, who, what, d.Got, d.Want)
}

func label(name string, key uuid.UUID) string {
	if name == "" {
		return key.String() + " (no hub row)"
	}
	return name + " (" + key.String() + ")"
}

// Orphans is the orphan check of one column naming a hub.
type Orphans struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	// Rows is how many rows were checked (for an array column, elements).
	Rows int64 `json:"rows"`
	// Orphans is how many of them name a missing hub.
	Orphans int64 `json:"orphans"`
}

// Run verifies the warehouse behind pool: it needs to read dds, cdm and
// stg.batch_orders (the login user, or orderflow_dds after migration 013).
// The counters and the orphans are checked at once on two connections,
// both in the same snapshot.
func Run(ctx context.Context, pool *pgxpool.Pool) (Report, error) {
	rep := Report{StartedAt: time.Now().UTC()}
	start := time.Now()
	err := inSnapshot(ctx, pool,
		func(tx pgx.Tx) error {
			if err := counters(ctx, tx, &rep); err != nil {
				return fmt.Errorf("verify counters: %w", err)
			}
			return nil
		},
		func(tx pgx.Tx) error {
			if err := orphans(ctx, tx, &rep); err != nil {
				return fmt.Errorf("verify orphans: %w", err)
			}
			return nil
		})
	rep.Duration = time.Since(start)
	return rep, err
}

var readOnlySnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// inSnapshot runs each of fns at once, each in its own read-only REPEATABLE
// READ transaction, all in one snapshot: the first transaction's, exported
// to the others (pg_export_snapshot). A pool of one connection runs fns one
// after the other in the first transaction.
func inSnapshot(ctx context.Context, pool *pgxpool.Pool, fns ...func(pgx.Tx) error) error {
	tx, err := pool.BeginTx(ctx, readOnlySnapshot)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit: a no-op
	// The transaction's first statement takes its snapshot.
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return fmt.Errorf("verify: take the snapshot: %w", err)
	}
	if pool.Config().MaxConns < 2 {
		// One connection: one after the other, in this transaction.
		for _, fn := range fns {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	}
	// The exporting transaction stays open until every other has imported
	// the snapshot and finished.
	g, gctx := errgroup.WithContext(ctx)
	for _, fn := range fns[1:] {
		g.Go(func() error {
			return pgx.BeginTxFunc(gctx, pool, readOnlySnapshot, func(other pgx.Tx) error {
				// (no parameters here; the id comes from the server: hex and dashes)
				if _, err := other.Exec(gctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
					return fmt.Errorf("verify: share the snapshot: %w", err)
				}
				return fn(other)
			})
		})
	}
	if len(fns) > 0 {
		g.Go(func() error { return fns[0](tx) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
