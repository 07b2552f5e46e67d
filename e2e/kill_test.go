package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/faults"
	"github.com/orderflow/orderflow/internal/testenv"
)

// faultConfig is a test configuration tuned so faults show quickly: a dead
// worker's activity moves on after 2 s, the schedule fires every 2 s, and a
// backlog drains in several batches.
func faultConfig(t *testing.T, partitions int) config.Config {
	cfg := testenv.Config(t, partitions)
	cfg.Pipeline.ScheduleInterval = 2 * time.Second
	cfg.Pipeline.HeartbeatTimeout = 2 * time.Second
	cfg.Pipeline.BatchSize = 100
	cfg.Pipeline.DrainBatchSize = 300
	return cfg
}

// TestWorkerKilledAtEveryStep kills the worker process with SIGKILL at each
// step of a batch: as the step starts ("before") and once the step's work is
// done but before Temporal hears of it ("after"; "UpsertCdm:after" is the
// crash between the marts and the offset commit). A second worker then
// finishes the work; the warehouse must equal the oracle with no duplicate.
func TestWorkerKilledAtEveryStep(t *testing.T) {
	steps := []string{"FetchBatch", "EnrichViaRedis", "LoadStg", "LoadDdsVault", "EmitCounters", "UpsertCdm", "CommitOffsets"}
	for _, step := range steps {
		for _, when := range []string{"before", "after"} {
			t.Run(step+"-"+when, func(t *testing.T) {
				cfg := faultConfig(t, 1)
				s := observer(t, cfg)
				_, msgs, want := generate(t, s, 500)

				kill := fmt.Sprintf("%s=%s:%s", faults.EnvKill, step, when)
				first := startWorker(t, cfg, kill)
				s.schedule(t)
				if !first.KilledBySIGKILL(90 * time.Second) {
					t.Fatalf("the worker armed with %s did not die by SIGKILL", kill)
				}
				startWorker(t, cfg)
				start := time.Now()
				s.waitDrained(t, 3*time.Minute)
				t.Logf("recovered and drained %s after the crash", time.Since(start).Round(100*time.Millisecond))
				checkWarehouse(t, s, msgs, want)
				checkNoBatchLeftOpen(t, s)
			})
		}
	}
}

// checkNoBatchLeftOpen: every batch that fetched records was committed,
// except ones a crash abandoned (their rows are swept later); none has
// working rows left behind after its commit.
func checkNoBatchLeftOpen(t *testing.T, s *stack) {
	t.Helper()
	var leftovers int
	err := s.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM stg.batch_messages m JOIN stg.batches b USING (batch_id) WHERE b.committed_at IS NOT NULL) +
		(SELECT count(*) FROM stg.batch_orders o JOIN stg.batches b USING (batch_id) WHERE b.committed_at IS NOT NULL)`).Scan(&leftovers)
	if err != nil {
		t.Fatal(err)
	}
	if leftovers != 0 {
		t.Errorf("%d working rows of committed batches were not deleted", leftovers)
	}
}
