package activities

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/observe"
)

// TestRunVerify: the activity, as the dds role, finds a mart row the vault
// does not imply, records the run and sets the metrics.
func TestRunVerify(t *testing.T) {
	ctx := context.Background()
	dsn, admin := testenv.MigratedPostgres(t)
	pool := testenv.PoolAs(t, dsn, db.Role("dds"))
	a := &Activities{DB: Pools{Dds: pool}}

	res, err := a.RunVerify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mismatches != 0 || res.RunID == 0 {
		t.Fatalf("empty warehouse: %+v", res)
	}
	if _, err := admin.Exec(ctx, `INSERT INTO cdm.user_product_counters (user_id, product_id, product_name, order_cnt) VALUES ($1, $2, 'x', 3)`, uuid.New(), uuid.New()); err != nil {
		t.Fatal(err)
	}
	res, err = a.RunVerify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Its count, and its name (the vault has none for that product).
	if res.Mismatches != 2 || res.Differences != 2 || res.RowsChecked != 1 {
		t.Fatalf("one stray mart row: %+v", res)
	}
	var runs, mismatches int64
	if err := admin.QueryRow(ctx, `SELECT count(*), max(mismatches) FROM stg.verify_runs`).Scan(&runs, &mismatches); err != nil || runs != 2 || mismatches != 2 {
		t.Errorf("stg.verify_runs: %d runs, max mismatches %d (err %v)", runs, mismatches, err)
	}
	if got := gauge(observe.VerifyMismatches); got != 2 {
		t.Errorf("orderflow_verify_mismatches = %v, want 2", got)
	}
	if got := gauge(observe.VerifyRowsChecked); got != float64(res.RowsChecked) {
		t.Errorf("orderflow_verify_rows_checked = %v, want %d", got, res.RowsChecked)
	}
	if gauge(observe.VerifyLastRun) == 0 {
		t.Error("orderflow_verify_last_run_timestamp_seconds not set")
	}
}

func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}
