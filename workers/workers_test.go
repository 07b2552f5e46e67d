package workers_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/workers"
)

// TestWorkerRefusesAnUnmigratedDatabase: a worker never migrates; on a
// database behind its build it fails at start and names the fix.
func TestWorkerRefusesAnUnmigratedDatabase(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.PGDSN = testenv.Postgres(t) // empty; the other clients are never reached
	app := workers.App(cfg, slog.New(slog.DiscardHandler))
	err = app.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "this build needs") || !strings.Contains(err.Error(), "run `orderflow migrate`") {
		t.Fatalf("start on an empty database: %v, want the schema version error naming `orderflow migrate`", err)
	}
}

// TestStopTimeoutCoversTheWorkers: fx may take longer to stop than the
// workers may take to finish their activities.
func TestStopTimeoutCoversTheWorkers(t *testing.T) {
	for _, wst := range []time.Duration{0, 5 * time.Second, 50 * time.Second, 5 * time.Minute} {
		var cfg config.Config
		cfg.Temporal.WorkerStopTimeout = wst
		if got := workers.StopTimeout(cfg); got < wst+10*time.Second || got < 15*time.Second {
			t.Errorf("WORKER_STOP_TIMEOUT %s: fx stop timeout %s, want at least %s and 15s", wst, got, wst+10*time.Second)
		}
	}
}
