package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/config"
)

// TestStatusExitsWhileStalled drives `orderflow status` over a real
// PostgreSQL and Kafka: exit status 0 and "pipeline ok" until the stall rule
// holds, then 3 with the reason line, 0 again after a commit. The built
// binary's exit status is checked too.
func TestStatusExitsWhileStalled(t *testing.T) {
	cfg := commandConfig(t, 2, func(c *config.Config) { c.Pipeline.ScheduleInterval = 10 * time.Second })
	ctx := context.Background()
	pool := migratedPool(t, cfg.PGDSN)
	exec1 := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	batch := func(id string, ago time.Duration) {
		exec1(`INSERT INTO stg.batches (batch_id, shard, shards, load_dt, ranges, fetched, backlog, started_at, committed_at)
			VALUES ($1, 0, 1, now(), '[]', 3, 0, now() - $2::float8 * interval '1 second', now() - $2::float8 * interval '1 second')`, id, ago.Seconds())
	}
	fail := func(id string) {
		exec1(`INSERT INTO stg.run_failures (shard, batch_id, step, error_type, message)
			VALUES (0, $1, 'LoadDdsVault', 'BadSQL', 'permission denied for table h_user')`, id)
	}
	status := func(wantCode int, want ...string) string {
		t.Helper()
		var out bytes.Buffer
		err := run([]string{"status"}, &out)
		if code := exitStatus(err); code != wantCode {
			t.Fatalf("orderflow status: exit status %d (%v), want %d\n%s", code, err, wantCode, out.String())
		}
		if wantCode == statusStalled && !errors.Is(err, errStalled) {
			t.Errorf("orderflow status: %v, want errStalled", err)
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("orderflow status printed\n%s\nwhich lacks %q", out.String(), w)
			}
		}
		return out.String()
	}

	status(0, "lag 0 |", "pipeline ok: no batch has committed yet")

	// Runs keep failing since the last commit.
	batch("ok-1", 10*time.Minute)
	fail("run-1")
	status(0, "pipeline ok: last commit")
	fail("run-2")
	out := status(statusStalled, "STALLED since", "shard 0: 2 runs failed for good since the last commit",
		"last error: BadSQL in LoadDdsVault: permission denied for table h_user", "last commit ")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "STALLED since ") {
		t.Errorf("want the progress line, then the reason line:\n%s", out)
	}

	// The binary exits 3 too.
	bin := buildOrderflow(t)
	cmd := exec.Command(bin, "status")
	cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != statusStalled || !strings.Contains(stdout.String(), "STALLED since") {
		t.Errorf("bin/orderflow status: %v, stdout %q, stderr %q; want exit status 3 and the reason", err, stdout.String(), stderr.String())
	}

	// A commit: fine again.
	batch("ok-2", 0)
	status(0, "pipeline ok: last commit")

	// Records wait and nothing committed for 3 intervals (30 s).
	exec1(`DELETE FROM stg.run_failures`)
	exec1(`UPDATE stg.batches SET committed_at = now() - interval '40 seconds' WHERE batch_id = 'ok-2'`)
	status(0, "pipeline ok")
	cl := testKafka(t, cfg)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.Kafka.InputTopic, Value: []byte(`{}`)}, &kgo.Record{Topic: cfg.Kafka.InputTopic, Value: []byte(`{}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	status(statusStalled, "lag 2 |", "STALLED since", "2 records wait and no batch has committed for 3 intervals (30s)",
		"no run has failed for good yet")

	// -h documents the exit status on stdout, and exits 0.
	cmd = exec.Command(bin, "status", "-h")
	stdout.Reset()
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "Exit status: 0 not stalled, 3 stalled") {
		t.Errorf("orderflow status -h: %v\n%s", err, stdout.String())
	}
}
