package e2e

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/internal/tcpproxy"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestDatabaseOutages cuts PostgreSQL, then Redis, in the middle of a
// backlog: open connections are dropped and new ones refused for a while,
// then restored. Batches wait and retry with backoff, then complete.
func TestDatabaseOutages(t *testing.T) {
	for _, target := range []string{"postgres", "redis"} {
		t.Run(target, func(t *testing.T) {
			cfg := faultConfig(t, 1)
			direct := cfg
			pgProxy := startProxy(t, hostPort(t, cfg.PGDSN))
			redisProxy := startProxy(t, cfg.Redis.Addr)
			cfg.PGDSN = withHost(t, cfg.PGDSN, pgProxy.Addr())
			cfg.Redis.Addr = redisProxy.Addr()
			proxy := map[string]*tcpproxy.Proxy{"postgres": pgProxy, "redis": redisProxy}[target]

			s := startStack(t, cfg)
			watch := directPool(t, direct.PGDSN)
			_, msgs, want := generate(t, s, 3000)
			s.schedule(t)
			waitBatches(t, watch, 2, time.Minute)

			proxy.Cut()
			before := committedBatches(t, watch)
			time.Sleep(5 * time.Second)
			during := committedBatches(t, watch)
			proxy.Restore()
			t.Logf("%s cut for 5 s: %d connections dropped, %d refused; batches committed %d → %d meanwhile",
				target, proxy.Dropped.Load(), proxy.Refused.Load(), before, during)
			if proxy.Dropped.Load()+proxy.Refused.Load() == 0 {
				t.Fatalf("the outage touched no connection: the test did not cut anything")
			}
			if target == "postgres" && during > before+1 {
				t.Errorf("%d batches committed while PostgreSQL was unreachable", during-before)
			}
			s.waitDrained(t, 3*time.Minute)
			retries := retriedAttempts(t, s.tc, cfg.Temporal.TaskQueue("stg"))
			t.Logf("activity attempts after a failure: %d", retries)
			if retries == 0 {
				t.Errorf("no activity was retried: the outage was not felt")
			}
			s.pool = watch
			checkWarehouse(t, s, msgs, want)
		})
	}
}

// TestKafkaBrokerRestart stops the broker (kfake with its data folder) in
// the middle of a backlog and starts it again on the same address.
func TestKafkaBrokerRestart(t *testing.T) {
	cfg := faultConfig(t, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	topics := []string{cfg.Kafka.InputTopic, cfg.Kafka.StgTopic, cfg.Kafka.DdsTopic}
	broker, err := devstack.StartBroker(devstack.BrokerOptions{Addr: addr, DataDir: dir, Partitions: 1, Topics: topics, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = []string{addr}
	s := startStack(t, cfg)
	_, msgs, want := generate(t, s, 3000)
	s.schedule(t)
	waitBatches(t, s.pool, 2, time.Minute)
	broker.Close()
	time.Sleep(3 * time.Second)
	broker, err = devstack.StartBroker(devstack.BrokerOptions{Addr: addr, DataDir: dir, Partitions: 1, Topics: topics, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	s.waitDrained(t, 3*time.Minute)
	t.Logf("activity attempts after a failure: %d", retriedAttempts(t, s.tc, cfg.Temporal.TaskQueue("stg")))
	checkWarehouse(t, s, msgs, want)
}

// TestTemporalServerRestart stops the Temporal dev server (with its SQLite
// file) in the middle of a backlog and starts it again.
func TestTemporalServerRestart(t *testing.T) {
	cfg := faultConfig(t, 1)
	bin, err := devstack.TemporalBin()
	if err != nil {
		t.Fatal(err)
	}
	opts := devstack.TemporalOptions{Bin: bin, DBFile: filepath.Join(t.TempDir(), "temporal.db"), Port: testenv.FreePort(t), UIPort: testenv.FreePort(t)}
	ts, err := devstack.StartTemporal(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Temporal.Address = ts.Addr()
	s := startStack(t, cfg)
	_, msgs, want := generate(t, s, 3000)
	s.schedule(t)
	waitBatches(t, s.pool, 2, time.Minute)
	if err := ts.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	time.Sleep(2 * time.Second)
	if ts, err = devstack.StartTemporal(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Stop() })
	s.waitDrained(t, 3*time.Minute)
	checkWarehouse(t, s, msgs, want)
}

func startProxy(t *testing.T, target string) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func hostPort(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHost(t *testing.T, dsn, hostport string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

func directPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func committedBatches(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM stg.batches WHERE committed_at IS NOT NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// retriedAttempts counts activity tasks that started on a second or later
// attempt, over every run on the task queue (Temporal keeps only the last
// attempt's start event, with its attempt number).
func retriedAttempts(t *testing.T, tc client.Client, queue string) int {
	t.Helper()
	ctx := context.Background()
	retried := 0
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("TaskQueue = '%s'", queue), NextPageToken: token})
		if err != nil {
			t.Fatalf("list workflows: %v", err)
		}
		for _, ex := range resp.Executions {
			it := tc.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.Attempt > 1 {
					retried++
				}
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return retried
		}
	}
}
