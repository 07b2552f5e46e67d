// Package verify checks the warehouse against itself (CONTRACT §14): it
// recomputes both marts from the raw vault alone, in set-based SQL with no
// incremental state (db/queries/verify_counters.sql), compares the result
// with the per-user counters (dds.b_user_*_cnt) and the marts
// (cdm.user_*_counters), names included, and checks that no link or
// satellite names a missing hub (db/queries/verify_orphans.sql).
//
// Everything is read in one REPEATABLE READ snapshot taken while both
// counter families' locks are held (they are released once the snapshot
// exists), so no pipeline is half-way through a counter fold or a mart copy
// in what Verify sees. A batch can still be between its vault load and its
// mart copy: a difference it explains (its user is in an order of a batch
// whose working rows still exist, or its mart row waits to be copied) is
// reported apart, in InFlight, and is not a mismatch. Run it again when the
// pipeline is idle to see those settle.
package verify

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/db"
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

// Report is the result of one verification.
type Report struct {
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration"`
	// CountedOrders is how many orders the vault says count (current status CLOSED).
	CountedOrders int64 `json:"counted_orders"`
	// ProductKeys and CategoryKeys are the (user, product) and (user,
	// category) counters compared: the union of the recomputed ones, the
	// per-user counters' and the marts'.
	ProductKeys  int64 `json:"product_keys"`
	CategoryKeys int64 `json:"category_keys"`
	// VaultRows is how many link and satellite rows the orphan check read.
	VaultRows int64 `json:"vault_rows"`
	// Differences are the mismatches, sorted by table, kind, user, key.
	Differences []Difference `json:"differences"`
	// InFlight are differences a batch still in flight explains: not mismatches.
	InFlight []Difference `json:"in_flight"`
	// Orphans has one entry per (table, hub column), orphans or not.
	Orphans []Orphans `json:"orphans"`
}

// RowsChecked is every counter compared plus every vault row checked for orphans.
func (r Report) RowsChecked() int64 { return r.ProductKeys + r.CategoryKeys + r.VaultRows }

// OrphanRows is how many link and satellite rows (array elements) name a missing hub.
func (r Report) OrphanRows() int64 {
	var n int64
	for _, o := range r.Orphans {
		n += o.Orphans
	}
	return n
}

// Mismatches counts every problem: differences plus orphan rows.
func (r Report) Mismatches() int64 { return int64(len(r.Differences)) + r.OrphanRows() }

// Clean is true when Verify found nothing wrong.
func (r Report) Clean() bool { return r.Mismatches() == 0 }

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

// Counter families, as counters_lock.sql numbers them (taken in this order).
var families = []int{1, 2}

var readOnlySnapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// inSnapshot runs each of fns at once, each in its own read-only REPEATABLE
// READ transaction, all in one snapshot: the first transaction's, taken
// while its session holds both counter locks (released right after) and
// exported to the others (pg_export_snapshot). A connection that may still
// hold a lock is closed, not returned to the pool. A pool of one
// connection runs fns one after the other in the first transaction.
func inSnapshot(ctx context.Context, pool *pgxpool.Pool, fns ...func(pgx.Tx) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	held := 0
	defer func() {
		if held > 0 {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}()
	for _, f := range families {
		held++ // before: a wait that fails may still have taken it
		if _, err := conn.Exec(ctx, db.Query("verify_lock"), f); err != nil {
			return fmt.Errorf("verify: lock the counters: %w", err)
		}
	}
	tx, err := conn.BeginTx(ctx, readOnlySnapshot)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit: a no-op
	// The transaction's first statement takes its snapshot, under the locks.
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return fmt.Errorf("verify: take the snapshot: %w", err)
	}
	for _, f := range slices.Backward(families) {
		if _, err := tx.Exec(ctx, db.Query("verify_unlock"), f); err != nil {
			return fmt.Errorf("verify: unlock the counters: %w", err)
		}
		held--
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

func counters(ctx context.Context, tx pgx.Tx, rep *Report) error {
	rows, err := tx.Query(ctx, db.Query("verify_counters"))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			family, kind                        string
			inFlight                            bool
			table, userID, keyName, wantN, gotN *string
			user, key                           *uuid.UUID
			want, got                           *int64
		)
		if err := rows.Scan(&family, &table, &kind, &inFlight, &user, &userID, &key, &keyName, &want, &got, &wantN, &gotN); err != nil {
			return err
		}
		switch kind {
		case "keys":
			if family == "product" {
				rep.ProductKeys = deref(want)
			} else {
				rep.CategoryKeys = deref(want)
			}
			continue
		case "orders":
			rep.CountedOrders = deref(want)
			continue
		}
		d := Difference{Family: family, Table: deref(table), Kind: kind, UserID: deref(userID), KeyName: deref(keyName),
			Want: deref(want), Got: deref(got), WantName: deref(wantN), GotName: deref(gotN)}
		if user != nil {
			d.User = *user
		}
		if key != nil {
			d.Key = *key
		}
		if inFlight {
			rep.InFlight = append(rep.InFlight, d)
		} else {
			rep.Differences = append(rep.Differences, d)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sortDiffs(rep.Differences)
	sortDiffs(rep.InFlight)
	return nil
}

func sortDiffs(ds []Difference) {
	slices.SortFunc(ds, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.User.String(), b.User.String()),
			cmp.Compare(a.KeyName, b.KeyName), cmp.Compare(a.Key.String(), b.Key.String()))
	})
}

func orphans(ctx context.Context, tx pgx.Tx, rep *Report) error {
	rows, err := tx.Query(ctx, db.Query("verify_orphans"))
	if err != nil {
		return err
	}
	rep.Orphans, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Orphans, error) {
		var o Orphans
		return o, row.Scan(&o.Table, &o.Column, &o.Rows, &o.Orphans)
	})
	if err != nil {
		return err
	}
	// A table's rows once (its scalar hub columns all read every row).
	tables := map[string]int64{}
	for _, o := range rep.Orphans {
		if !strings.HasSuffix(o.Column, "_pks") {
			tables[o.Table] = max(tables[o.Table], o.Rows)
		}
	}
	for _, n := range tables {
		rep.VaultRows += n
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Summary is one line: clean or how many mismatches, what was checked, how long it took.
func (r Report) Summary() string {
	checked := fmt.Sprintf("%s rows checked (%s product and %s category counters over %s counted orders, %s link and satellite rows) in %s",
		num(r.RowsChecked()), num(r.ProductKeys), num(r.CategoryKeys), num(r.CountedOrders), num(r.VaultRows),
		r.Duration.Round(time.Millisecond))
	if r.Clean() {
		return "verify: clean: " + checked
	}
	var counts, names int
	for _, d := range r.Differences {
		if d.Kind == "name" {
			names++
		} else {
			counts++
		}
	}
	return fmt.Sprintf("verify: %s mismatches (%s counter differences, %s name differences, %s orphan rows): %s",
		num(r.Mismatches()), num(int64(counts)), num(int64(names)), num(r.OrphanRows()), checked)
}

// Write prints the summary, every difference up to limit lines (then how
// many more), the orphans per table, and how many differences in-flight
// batches explain.
func (r Report) Write(w io.Writer, limit int) error {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n")
	for i, d := range r.Differences {
		if limit >= 0 && i >= limit {
			fmt.Fprintf(&b, "... and %s more differences\n", num(int64(len(r.Differences)-i)))
			break
		}
		b.WriteString("  " + d.String() + "\n")
	}
	for _, o := range r.Orphans {
		if o.Orphans > 0 {
			fmt.Fprintf(&b, "  orphans: %s.%s: %s of %s rows name a missing hub\n", o.Table, o.Column, num(o.Orphans), num(o.Rows))
		}
	}
	if n := len(r.InFlight); n > 0 {
		fmt.Fprintf(&b, "  in flight: %s differences skipped: a batch that has not finished explains them (run again when the pipeline is idle)\n", num(int64(n)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Detail is the JSON stored with a run (stg.verify_runs.detail): the
// counts, the first limit differences, how many by table and kind, the
// orphan checks that found orphans.
func (r Report) Detail(limit int) []byte {
	type detail struct {
		CountedOrders int64          `json:"counted_orders"`
		ProductKeys   int64          `json:"product_keys"`
		CategoryKeys  int64          `json:"category_keys"`
		VaultRows     int64          `json:"vault_rows"`
		Differences   int            `json:"differences"`
		ByTable       map[string]int `json:"by_table,omitempty"`
		First         []Difference   `json:"first,omitempty"`
		Orphans       []Orphans      `json:"orphans,omitempty"`
		InFlight      int            `json:"in_flight"`
	}
	d := detail{CountedOrders: r.CountedOrders, ProductKeys: r.ProductKeys, CategoryKeys: r.CategoryKeys,
		VaultRows: r.VaultRows, Differences: len(r.Differences), InFlight: len(r.InFlight), ByTable: map[string]int{}}
	for i, x := range r.Differences {
		d.ByTable[x.Table+" "+x.Kind]++
		if i < limit {
			d.First = append(d.First, x)
		}
	}
	for _, o := range r.Orphans {
		if o.Orphans > 0 {
			d.Orphans = append(d.Orphans, o)
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	return b
}

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

// num writes n with commas between thousands: 12,345.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
