package verify_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/verify"
)

// TestVerifyAsDdsRole: the dds worker's role (PG_SET_ROLE) may run the
// check and record it (migration 013's grants), and the record reads back.
func TestVerifyAsDdsRole(t *testing.T) {
	w := newWorld(t)
	w.build()
	w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 7 WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
	ctx := context.Background()
	pool := testenv.PoolAs(t, w.dsn, db.Role("dds"))
	rep, err := verify.Run(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 1 {
		t.Fatalf("mismatches %d, want 1", rep.Mismatches())
	}
	id, err := verify.Record(ctx, pool, rep)
	if err != nil {
		t.Fatal(err)
	}
	var rowsChecked, mismatches, orphans int64
	var detail []byte
	if err := w.pool.QueryRow(ctx, `SELECT rows_checked, mismatches, orphans, detail FROM stg.verify_runs WHERE id = $1`, id).
		Scan(&rowsChecked, &mismatches, &orphans, &detail); err != nil {
		t.Fatal(err)
	}
	if rowsChecked != rep.RowsChecked() || mismatches != 1 || orphans != 0 {
		t.Errorf("recorded rows %d mismatches %d orphans %d", rowsChecked, mismatches, orphans)
	}
	var d struct {
		Differences int                 `json:"differences"`
		First       []verify.Difference `json:"first"`
	}
	if err := json.Unmarshal(detail, &d); err != nil || d.Differences != 1 || len(d.First) != 1 || d.First[0].Got != 7 {
		t.Errorf("detail %s (err %v)", detail, err)
	}
	// The reader (dashboards) may read the runs.
	reader, err := db.OpenReader(ctx, w.dsn, true)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var n int
	if err := reader.QueryRow(ctx, `SELECT count(*) FROM stg.verify_runs`).Scan(&n); err != nil || n != 1 {
		t.Errorf("reader: %d runs, err %v", n, err)
	}
}

// TestVerifyDoesNotWaitForAFold: a pipeline's open counter transaction (a
// fold half done, holding its bucket lock) neither stops Run nor shows in
// what it reads; and Run takes no lock a fold would wait for.
func TestVerifyDoesNotWaitForAFold(t *testing.T) {
	w := newWorld(t)
	w.build()
	ctx := context.Background()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, db.Query("counters_lock"), []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, db.Query("counters_bucket_lock"), 16); err != nil {
		t.Fatal(err)
	}
	// Half a fold: the counter moved, the mart not yet (same transaction).
	if _, err := tx.Exec(ctx, `UPDATE dds.b_user_category_cnt SET order_cnt = 9 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza")); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rep, err := verify.Run(rctx, w.pool)
	if err != nil {
		t.Fatalf("Run beside an open fold: %v", err)
	}
	if !rep.Clean() {
		t.Errorf("Run saw the uncommitted fold: %+v", rep.Differences)
	}
	// Run left no lock behind: another fold takes the same locks at once.
	tctx, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	tx2, err := w.pool.Begin(tctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback(ctx)
	if _, err := tx2.Exec(tctx, "SELECT pg_advisory_xact_lock(1869967212, 1), pg_advisory_xact_lock(1869967212, 2)"); err != nil {
		t.Fatalf("the families' locks after Run: %v", err)
	}
}

// TestVerifyOnOneConnection: a pool of one connection (pool_max_conns=1)
// runs the checks one after the other rather than waiting for a second.
func TestVerifyOnOneConnection(t *testing.T) {
	w := newWorld(t)
	w.build()
	w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 5 WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool := testenv.PoolAs(t, w.dsn+"&pool_max_conns=1", "")
	rep, err := verify.Run(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 1 || len(rep.Orphans) == 0 {
		t.Errorf("mismatches %d, orphan checks %d; want 1 and every check", rep.Mismatches(), len(rep.Orphans))
	}
}
