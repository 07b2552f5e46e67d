package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/pipeline"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workers"
)

// observer holds the test's own clients, for a pipeline whose workers run
// in another process.
func observer(t *testing.T, cfg config.Config) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{cfg: cfg}
	var err error
	if s.pool, err = db.Open(ctx, cfg.PGDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	if _, err := db.Migrate(ctx, s.pool); err != nil {
		t.Fatal(err)
	}
	if s.kcl, err = kafkaio.NewClient(cfg.Kafka, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kcl.Close)
	rdb, err := workers.OpenRedis(ctx, cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	s.rdb = rdb
	t.Cleanup(func() { _ = rdb.Close() })
	if s.tc, err = client.Dial(client.Options{HostPort: cfg.Temporal.Address, Logger: quietTemporal()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = starter.Delete(context.Background(), s.tc, cfg)
		s.tc.Close()
	})
	return s
}

// startWorker runs every role in a child process with cfg's settings and
// env (KEY=value, e.g. a fault hook) on top.
func startWorker(t *testing.T, cfg config.Config, env ...string) *testenv.WorkerProc {
	t.Helper()
	return testenv.Worker(t, workerBin, cfg, env...)
}

// generate makes a world and n orders of history with a fresh seed, saves
// the reference data and produces the messages.
func generate(t *testing.T, s *stack, n int) (*simulator.World, []simulator.Message, simulator.Expected) {
	t.Helper()
	w, msgs, want := pipeline.Generate(t, simulator.Options{Users: 200, Restaurants: 4, End: time.Now().UTC()}, n)
	if err := w.SaveRefData(context.Background(), s.rdb); err != nil {
		t.Fatal(err)
	}
	produce(t, s.kcl, s.cfg.Kafka.InputTopic, msgs)
	return w, msgs, want
}

func produce(t *testing.T, cl *kgo.Client, topic string, msgs []simulator.Message) {
	t.Helper()
	if err := simulator.Produce(context.Background(), cl, topic, msgs, nil); err != nil {
		t.Fatal(err)
	}
}

// schedule creates the pipeline's schedules and triggers a first run.
func (s *stack) schedule(t *testing.T) {
	t.Helper()
	if _, err := starter.Ensure(context.Background(), s.tc, s.cfg); err != nil {
		t.Fatal(err)
	}
	if err := starter.Trigger(context.Background(), s.tc, s.cfg); err != nil {
		t.Fatal(err)
	}
}

// waitBatches waits until at least n batches are committed.
func waitBatches(t *testing.T, pool *pgxpool.Pool, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var done int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM stg.batches WHERE committed_at IS NOT NULL`).Scan(&done)
		if err == nil && done >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches committed after %s, want %d (err %v)", done, timeout, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkWarehouse is what every fault test ends with: the marts equal the
// oracle, every bad message is stored with its reason, nothing is duplicated.
func checkWarehouse(t *testing.T, s *stack, msgs []simulator.Message, want simulator.Expected) {
	t.Helper()
	checkMarts(t, s, want)
	if s.cfg.Kafka.Partitions == 1 {
		checkRejected(t, s, msgs, want)
	} else {
		checkRejectedCounts(t, s, want)
	}
	checkNoDuplicates(t, s)
	checkVerify(t, s)
	var orders int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM stg.order_events`).Scan(&orders); err != nil {
		t.Fatal(err)
	}
	if orders != want.Orders {
		t.Errorf("stg.order_events holds %d orders, want %d", orders, want.Orders)
	}
}

// checkRejectedCounts compares rejected messages by reason (offsets differ across partitions).
func checkRejectedCounts(t *testing.T, s *stack, want simulator.Expected) {
	t.Helper()
	wantBy := map[string]int{}
	for _, r := range want.Rejected {
		wantBy[r]++
	}
	rows, err := s.pool.Query(context.Background(), `SELECT reason, count(*) FROM stg.rejected_messages GROUP BY reason`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			t.Fatal(err)
		}
		got[r] = n
	}
	for r, n := range wantBy {
		if got[r] != n {
			t.Errorf("rejected %s: %d stored, want %d", r, got[r], n)
		}
	}
	if len(got) != len(wantBy) {
		t.Errorf("rejected reasons %v, want %v", got, wantBy)
	}
}
