// Package pipeline runs orderflow's workers in the test process on top of
// testenv's services, for the tests of whole pipelines (e2e, dashboard). It
// is apart from testenv because the workers' and health's own tests use
// testenv.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workers"
)

// Start migrates cfg's database (as the setup Job does: workers only check
// the schema), starts workers of every role of cfg in this process and
// fills targets (pointers, as fx.Populate takes: *pgxpool.Pool,
// *redis.UniversalClient, *kgo.Client, *client.Client, ...) from them. When
// the test ends it deletes the schedules and stops the workers.
func Start(t testing.TB, cfg config.Config, log *slog.Logger, targets ...any) {
	t.Helper()
	StartWith(t, cfg, log, nil, targets...)
}

// StartWith is Start with opts added to the workers' app: a fault of
// internal/faults (faults.Options), say.
func StartWith(t testing.TB, cfg config.Config, log *slog.Logger, opts []fx.Option, targets ...any) {
	t.Helper()
	testenv.Migrate(t, cfg.PGDSN)
	var tc client.Client
	app := workers.App(cfg, log, append([]fx.Option{fx.Populate(append([]any{&tc}, targets...)...)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start workers: %v", err)
	}
	t.Cleanup(func() {
		_ = starter.Delete(context.Background(), tc, cfg)
		_ = app.Stop(context.Background())
	})
}

// WaitDrained polls the health report every 300 ms until the group has
// committed every record of the input topic, and returns that report.
func WaitDrained(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, adm *kadm.Client, timeout time.Duration) (health.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		rep, err := health.Take(ctx, cfg, pool, adm)
		if err == nil && rep.TotalLag == 0 {
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return rep, fmt.Errorf("not drained after %s: %v (err %v)", timeout, rep, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Drained is WaitDrained failing the test, logging how long it waited.
func Drained(t testing.TB, cfg config.Config, pool *pgxpool.Pool, adm *kadm.Client, timeout time.Duration) health.Report {
	t.Helper()
	start := time.Now()
	rep, err := WaitDrained(context.Background(), cfg, pool, adm, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drained in %s: %v", time.Since(start).Round(time.Millisecond), rep)
	return rep
}

// Feed saves w's reference data, produces msgs to cfg's input topic and
// creates the pipeline's schedules (their first run starts at once).
func Feed(t testing.TB, cfg config.Config, rdb redis.UniversalClient, kcl *kgo.Client, tc client.Client, w *simulator.World, msgs []simulator.Message) {
	t.Helper()
	ctx := context.Background()
	if err := w.SaveRefData(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if err := simulator.Produce(ctx, kcl, cfg.Kafka.InputTopic, msgs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := starter.Ensure(ctx, tc, cfg); err != nil {
		t.Fatal(err)
	}
}

// WaitIdle waits up to timeout until no schedule of cfg has a run going.
func WaitIdle(t testing.TB, tc client.Client, cfg config.Config, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		busy := false
		for _, id := range starter.ScheduleIDs(cfg) {
			d, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			busy = busy || len(d.Info.RunningWorkflows) > 0
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a pipeline run is still running after %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Generate makes a world with o's options and a fresh seed (logged; set
// ORDERFLOW_TEST_SEED to replay a failed run's), n orders of its history,
// and what the oracle expects of them.
func Generate(t testing.TB, o simulator.Options, n int) (*simulator.World, []simulator.Message, simulator.Expected) {
	t.Helper()
	o.Seed = time.Now().UnixNano()
	if v := os.Getenv("ORDERFLOW_TEST_SEED"); v != "" {
		seed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("ORDERFLOW_TEST_SEED=%q: %v", v, err)
		}
		o.Seed = seed
	}
	t.Logf("simulator seed %d (ORDERFLOW_TEST_SEED replays it)", o.Seed)
	w := simulator.NewWorld(o)
	msgs := w.History(n)
	return w, msgs, w.Expect(msgs)
}
