package activities

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/vault"
)

// TestNameSatellitesTakeTurns: while another pipeline's transaction holds
// the names lock and has added a product's name row (not yet committed),
// loadVault waits for it and then adds no second row with the same hashdiff.
// Without the lock both rows would land, under different load_dt.
func TestNameSatellitesTakeTurns(t *testing.T) {
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	pk := vault.Hub("product-1")
	hd := vault.HashDiff(pk, "Pizza")
	first := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, db.Query("dds_h_product"), []uuid.UUID{pk}, []string{"product-1"}, first, vault.LoadSrc); err != nil {
		t.Fatal(err)
	}
	names := func(ldt time.Time) []stmt {
		return []stmt{{table: "names_lock"}, {"s_product_names", []any{[]uuid.UUID{pk}, []string{"Pizza"}, []uuid.UUID{hd}, ldt, vault.LoadSrc}}}
	}

	// The other pipeline: lock taken, row added, transaction open.
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	for _, s := range names(first) {
		if _, err := other.Exec(ctx, db.Query("dds_"+s.table), s.args...); err != nil {
			t.Fatal(err)
		}
	}

	a := &Activities{DB: Pools{Dds: pool}}
	type result struct {
		rows map[string]int64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rows, err := a.loadVault(ctx, names(first.Add(time.Minute)))
		done <- result{rows, err}
	}()

	// Commit the other pipeline once loadVault waits on the lock (or has
	// already finished, which is the failure this test looks for).
	waitForAdvisoryWaiter(t, pool, func() bool { return len(done) > 0 }, "loadVault")
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rows["s_product_names"] != 0 {
		t.Errorf("loadVault added %d s_product_names rows, want 0 (same hashdiff as the latest row)", r.rows["s_product_names"])
	}
	if _, ok := r.rows["names_lock"]; ok {
		t.Error("the lock statement was counted as a table")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM dds.s_product_names WHERE h_product_pk = $1`, pk).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d s_product_names rows for the product, want 1", n)
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }
