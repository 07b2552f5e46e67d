package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestLockHeldReadsTheWorkersMetric: the shared locks' held seconds come
// from the worker's /metrics, other series ignored.
func TestLockHeldReadsTheWorkersMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# HELP orderflow_shared_lock_held_seconds_total x
# TYPE orderflow_shared_lock_held_seconds_total counter
orderflow_shared_lock_held_seconds_total{lock="category_counters"} 2.5
orderflow_shared_lock_held_seconds_total{lock="product_counters"} 4
orderflow_shared_lock_held_seconds_total_other{lock="x"} 9
orderflow_rows_written_total{table="dds.h_user"} 100
`)
	}))
	defer srv.Close()
	st := &stack{Stack: &testenv.Stack{Config: config.Config{HealthAddr: strings.TrimPrefix(srv.URL, "http://")}}}
	got, err := st.lockHeld(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["category_counters"] != 2.5 || got["product_counters"] != 4 {
		t.Errorf("lockHeld = %v", got)
	}
}

// TestLimitsTargets: issue 12's targets judge the default drains: 50,000 in
// 5 s with PostgreSQL's CPU halved, the largest lock share under 10 %, and
// the million-order run's wall, growth and memory.
func TestLimitsTargets(t *testing.T) {
	batch, drain := productDefaults()
	d := func(n int, wall, pg float64, held map[string]float64) DrainResult {
		r := DrainResult{Orders: n, BatchSize: batch, DrainBatchSize: drain, Shards: 1, WallS: wall, LockHeldS: held}
		r.CPU.PostgresS = pg
		return r
	}
	r := Results{Drain: []DrainResult{
		d(50000, 4.5, 4, map[string]float64{"product_counters": 0.4, "names": 0.01}),
		d(200000, 20, 20, map[string]float64{"product_counters": 3, "category_counters": 1}),
	}}
	ts := limitsTargets(r)
	if len(ts) != 2 || ts[0].Result != "pass" || ts[1].Result != "miss" || !strings.Contains(ts[1].Measured, "product_counters 15.0%") {
		t.Errorf("targets %+v", ts)
	}
	r.Drain[0].CPU.PostgresS = 5 // 0.1 CPU-s per 1k: over half of today's
	r.Drain[1].LockHeldS["product_counters"] = 1.9
	if ts := limitsTargets(r); ts[0].Result != "miss" || ts[1].Result != "pass" {
		t.Errorf("targets %+v", ts)
	}
	if ts := millionTargets(r); len(ts) != 1 || ts[0].Result != "not measured" {
		t.Errorf("million without its run: %+v", ts)
	}
}

// TestLockUsesGroupBuckets: a lock split into buckets is one row, whose
// share is its longest-held bucket's; a lock without buckets is its own row.
func TestLockUsesGroupBuckets(t *testing.T) {
	d := DrainResult{WallS: 10, LockHeldS: map[string]float64{
		"products_fold/0": 0.5, "products_fold/1": 1.5, "products_fold/7": 1, "names": 0.2,
	}}
	uses := lockUses(d)
	if len(uses) != 2 || uses[0].name != "names" || uses[1].name != "products_fold" {
		t.Fatalf("lockUses = %+v", uses)
	}
	p := uses[1]
	if p.buckets != 3 || p.maxS != 1.5 || p.sumS != 3 || p.share != 0.15 {
		t.Errorf("products_fold = %+v, want 3 buckets, longest 1.5 s, sum 3 s, share 0.15", p)
	}
	if uses[0].buckets != 1 || uses[0].share != 0.02 {
		t.Errorf("names = %+v", uses[0])
	}
}
