package e2e

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
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

// workerProc is `orderflow worker` running as a child process.
type workerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startWorker runs every role in a child process with cfg's settings and
// env (KEY=value, e.g. a fault hook) on top.
func startWorker(t *testing.T, cfg config.Config, env ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(workerBin, "worker")
	cmd.Env = append(os.Environ(), cfg.Environ()...)
	cmd.Env = append(cmd.Env, "LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{cmd: cmd, done: make(chan struct{})}
	go func() { w.err = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop asks the worker to stop and waits for it.
func (w *workerProc) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// killedBySIGKILL waits up to timeout for the worker to die and reports whether SIGKILL ended it.
func (w *workerProc) killedBySIGKILL(timeout time.Duration) bool {
	select {
	case <-w.done:
	case <-time.After(timeout):
		return false
	}
	ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// testWriter sends a child's output to the test log (shown on failure or -v).
type testWriter struct{ t *testing.T }

var logMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	w.t.Logf("worker: %s", p)
	return len(p), nil
}

// generate makes a world and n orders of history with a fresh seed, saves
// the reference data and produces the messages.
func generate(t *testing.T, s *stack, n int) (*simulator.World, []simulator.Message, simulator.Expected) {
	t.Helper()
	seed := time.Now().UnixNano()
	t.Logf("simulator seed %d", seed)
	w := simulator.NewWorld(simulator.Options{Seed: seed, Users: 200, Restaurants: 4, End: time.Now().UTC()})
	msgs := w.History(n)
	if err := w.SaveRefData(context.Background(), s.rdb); err != nil {
		t.Fatal(err)
	}
	produce(t, s.kcl, s.cfg.Kafka.InputTopic, msgs)
	return w, msgs, w.Expect(msgs)
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
