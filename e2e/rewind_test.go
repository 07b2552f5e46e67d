package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
)

// TestRewindDuringDrainIsSafe reproduces the race of CONTRACT §10 ("rewind is
// safe"): `orderflow rewind -offset 0` while a backlog drains used to report
// success, then the run in flight committed its own range over it. Now a
// plain rewind refuses (exit 1) and moves nothing, and `rewind -pause`
// pauses, waits for the runs in flight, moves, and resumes; the offsets are
// 0 when it returns, and afterwards only new batches, reading from 0, move
// them on.
func TestRewindDuringDrainIsSafe(t *testing.T) {
	cfg := testenv.Config(t, 2)
	cfg.Pipeline.Shards = 2
	cfg.Pipeline.ScheduleInterval = 2 * time.Second
	cfg.Pipeline.BatchSize = 50
	cfg.Pipeline.DrainBatchSize = 100 // the backlog drains in many runs (continue-as-new)
	ctx := context.Background()
	s := startStack(t, cfg)
	generate(t, s, 3000)
	s.schedule(t)
	adm := kafkaio.Admin(s.kcl)
	group, topic := cfg.Kafka.Group, cfg.Kafka.InputTopic

	committed := func() map[int32]int64 {
		t.Helper()
		got, err := kafkaio.Committed(ctx, adm, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	waitInFlight := func() {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			states, err := starter.States(ctx, s.tc, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(starter.InFlight(states)) > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no pipeline run in flight")
			}
		}
	}
	rewind := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(workerBin, append([]string{"rewind"}, args...)...)
		cmd.Env = append(append(os.Environ(), cfg.Environ()...), "LOG_LEVEL=warn")
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("orderflow rewind %s: exit %d\n%s", strings.Join(args, " "), code, out)
		return string(out), code
	}

	// The drain is under way: some batches committed, a run in flight.
	waitBatches(t, s.pool, 2, time.Minute)
	waitInFlight()

	// A plain rewind refuses and moves nothing: the offsets, watched all the
	// while, never go back.
	before := committed()
	var (
		mu       sync.Mutex
		wentBack []string
		stop     = make(chan struct{})
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		last := before
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			now, err := kafkaio.Committed(ctx, adm, group, topic)
			if err != nil {
				continue
			}
			for p, off := range now {
				if off < last[p] {
					mu.Lock()
					wentBack = append(wentBack, string(rune('0'+p))+": "+time.Now().Format(time.StampMilli))
					mu.Unlock()
				}
			}
			last = now
		}
	}()
	out, code := rewind("-offset", "0")
	time.Sleep(2 * time.Second) // time for a (wrongly) moved offset to show or be overwritten
	close(stop)
	<-done
	if code != 1 || !strings.Contains(out, "refused") || !strings.Contains(out, "orderflow schedule pause") || !strings.Contains(out, "rewind -pause") {
		t.Fatalf("rewind -offset 0 during a drain: exit %d, printed %q; want exit 1 and a refusal saying to pause first or use -pause", code, out)
	}
	if len(wentBack) > 0 {
		t.Fatalf("the refused rewind moved offsets back: %v", wentBack)
	}
	for p, off := range committed() {
		if off < before[p] {
			t.Fatalf("partition %d: offset %d after the refused rewind, %d before", p, off, before[p])
		}
	}

	// rewind -pause during the drain: waits for the runs in flight, then moves.
	waitInFlight()
	out, code = rewind("-pause", "-wait", "3m", "-offset", "0")
	returned := time.Now()
	if code != 0 {
		t.Fatalf("rewind -pause -offset 0: exit %d\n%s", code, out)
	}
	at := committed()
	for p := int32(0); p < 2; p++ {
		if off, ok := at[p]; !ok || off != 0 {
			t.Errorf("partition %d: committed %d (present %v) right after rewind -pause returned, want 0", p, off, ok)
		}
	}
	for _, want := range []string{"paused schedule", "waiting for the pipeline to stop", "read back", "resumed schedule"} {
		if !strings.Contains(out, want) {
			t.Errorf("rewind -pause printed %q, want %q", out, want)
		}
	}
	for _, id := range starter.ScheduleIDs(cfg) {
		d, err := s.tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Schedule.State.Paused {
			t.Errorf("schedule %s still paused after rewind -pause", id)
		}
	}

	// Afterwards the offsets move on only through new batches that read from
	// 0 on: per partition, the batches committed since form one chain from 0
	// to the committed offset. A run left over from before the rewind would
	// show as a batch starting elsewhere (its old range).
	time.Sleep(8 * time.Second)
	chain := func() (map[int32]int64, int) {
		t.Helper()
		rows, err := s.pool.Query(ctx, `SELECT batch_id, ranges FROM stg.batches WHERE committed_at > $1 ORDER BY committed_at`, returned)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		next := map[int32]int64{0: 0, 1: 0}
		batches := 0
		for rows.Next() {
			var id string
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				t.Fatal(err)
			}
			var ranges []kafkaio.Range
			if err := json.Unmarshal(raw, &ranges); err != nil {
				t.Fatal(err)
			}
			batches++
			for _, r := range ranges {
				if r.From != next[r.Partition] {
					t.Fatalf("batch %s committed after the rewind read partition %d from %d, want %d: a run from before the rewind committed its old range", id, r.Partition, r.From, next[r.Partition])
				}
				next[r.Partition] = r.To
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return next, batches
	}
	// The Kafka commit comes a moment before the batch's row says so: compare
	// at a moment when no commit happens (two equal reads around the query).
	var final, next map[int32]int64
	var batches int
	for try := 0; ; try++ {
		final = committed()
		next, batches = chain()
		if again := committed(); again[0] == final[0] && again[1] == final[1] && next[0] == final[0] && next[1] == final[1] {
			break
		}
		if try == 100 {
			t.Fatalf("committed offsets %v, but the batches since the rewind end at %v", final, next)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if batches == 0 {
		t.Fatal("no batch committed in the 8 s after the rewind")
	}
	for p := int32(0); p < 2; p++ {
		if final[p] == 0 {
			t.Errorf("partition %d: still at 0 after 8 s: the pipeline did not resume", p)
		}
	}
	t.Logf("%d batches since the rewind; offsets %v", batches, final)
}
