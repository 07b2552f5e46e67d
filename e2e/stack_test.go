package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/pipeline"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workers"
)

// stack is a running pipeline: workers of every role plus the clients the test uses.
type stack struct {
	cfg  config.Config
	acts *activities.Activities // the workers' activities, to drive steps by hand
	pool *pgxpool.Pool
	rdb  redis.UniversalClient
	kcl  *kgo.Client
	tc   client.Client
}

// startStack runs workers of every role in this process, with opts (a
// fault of internal/faults, say) added to their app.
func startStack(t *testing.T, cfg config.Config, opts ...fx.Option) *stack {
	t.Helper()
	s := &stack{cfg: cfg}
	pipeline.StartWith(t, cfg, testLogger(t), opts, &s.pool, &s.rdb, &s.kcl, &s.tc, &s.acts)
	return s
}

// waitDrained waits until the group has committed every record of the input topic.
func (s *stack) waitDrained(t *testing.T, timeout time.Duration) health.Report {
	t.Helper()
	return pipeline.Drained(t, s.cfg, s.pool, kafkaio.Admin(s.kcl), timeout)
}

// waitNoRunning waits until no run of the pipeline is in flight.
func waitNoRunning(t *testing.T, s *stack) {
	t.Helper()
	pipeline.WaitIdle(t, s.tc, s.cfg, time.Minute)
}

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
