package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workflows"
)

// TestRewindRefusesWhileBusyAndPausesByItself drives `orderflow rewind`
// without workers (a triggered run stays in flight until terminated): it
// refuses while a schedule is unpaused or a run is in flight, -pause resumes
// only the schedules it paused, and a -pause whose wait runs out moves
// nothing and leaves the schedules paused, saying so (CONTRACT §10).
func TestRewindRefusesWhileBusyAndPausesByItself(t *testing.T) {
	cfg := commandConfig(t, 2, func(c *config.Config) {
		c.Pipeline.Shards = 2
		c.Pipeline.ScheduleInterval = time.Hour // no tick during the test
	})
	ctx := context.Background()
	tc := testTemporal(t, cfg)
	if _, err := starter.Ensure(ctx, tc, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = starter.Delete(context.Background(), tc, cfg) })
	ids := starter.ScheduleIDs(cfg)
	adm := kafkaio.Admin(testKafka(t, cfg))
	group, topic := cfg.Kafka.Group, cfg.Kafka.InputTopic
	if err := kafkaio.Commit(ctx, adm, group, topic, []kafkaio.Range{{Partition: 0, To: 5}, {Partition: 1, To: 7}}); err != nil {
		t.Fatal(err)
	}
	offsetsAre := func(want map[int32]int64) {
		t.Helper()
		if err := kafkaio.CheckCommitted(ctx, adm, group, topic, want); err != nil {
			t.Fatal(err)
		}
	}
	rewind := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(append([]string{"rewind"}, args...), &out)
		t.Logf("orderflow rewind %s: %v\n%s", strings.Join(args, " "), err, out.String())
		return out.String(), err
	}
	state := func(id string) (bool, string) {
		t.Helper()
		d, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d.Schedule.State.Paused, d.Schedule.State.Note
	}
	refused := func(err error) bool {
		return err != nil && exitStatus(err) == 1 && strings.Contains(err.Error(), "refused, no offset moved") &&
			strings.Contains(err.Error(), "orderflow schedule pause") && strings.Contains(err.Error(), "rewind -pause")
	}

	// Shard 1 is paused by an operator; shard 0 runs: refused, nothing moved.
	if err := tc.ScheduleClient().GetHandle(ctx, ids[1]).Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rewind("-offset", "0"); !refused(err) || !strings.Contains(err.Error(), ids[0]+" is not paused") {
		t.Fatalf("rewind with %s unpaused: %v, want a refusal naming it", ids[0], err)
	}
	offsetsAre(map[int32]int64{0: 5, 1: 7})

	// -pause: pauses shard 0 only, moves, resumes shard 0 only.
	out, err := rewind("-pause", "-offset", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"paused schedule " + ids[0], ids[1] + " was already paused", "resumed schedule " + ids[0], "[0] from offset 0", "[1] from offset 0", "read back"} {
		if !strings.Contains(out, want) {
			t.Errorf("rewind -pause printed %q, want %q", out, want)
		}
	}
	if strings.Contains(out, "resumed schedule "+ids[1]) {
		t.Errorf("rewind -pause resumed %s, which was paused before it", ids[1])
	}
	offsetsAre(map[int32]int64{0: 0, 1: 0})
	if p, _ := state(ids[0]); p {
		t.Errorf("%s still paused after rewind -pause", ids[0])
	}
	if p, note := state(ids[1]); !p || note != "maintenance" {
		t.Errorf("%s: paused %v note %q, want still paused by the operator", ids[1], p, note)
	}

	// A run in flight (no worker takes it) on shard 0: refused even once
	// every schedule is paused.
	if err := tc.ScheduleClient().GetHandle(ctx, ids[0]).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var inFlight []string
	for deadline := time.Now().Add(20 * time.Second); len(inFlight) == 0; {
		states, err := starter.States(ctx, tc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if inFlight = starter.InFlight(states); len(inFlight) == 0 && time.Now().After(deadline) {
			t.Fatal("the triggered run never showed as in flight")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		for _, id := range inFlight {
			_ = tc.TerminateWorkflow(context.Background(), id, "", "test over")
		}
	})

	// -pause whose wait runs out: shard 0 paused and left paused, nothing moved.
	_, err = rewind("-pause", "-wait", "2s", "-offset", "3")
	if err == nil || !strings.Contains(err.Error(), "LEFT PAUSED") || !strings.Contains(err.Error(), "no offset moved") ||
		!strings.Contains(err.Error(), inFlight[0]) || !strings.Contains(err.Error(), "orderflow schedule resume") {
		t.Fatalf("rewind -pause with a run that never ends: %v, want a failure naming the run and saying the schedules are left paused", err)
	}
	offsetsAre(map[int32]int64{0: 0, 1: 0})
	if p, note := state(ids[0]); !p || note != starter.RewindNote {
		t.Errorf("%s: paused %v note %q, want left paused by rewind", ids[0], p, note)
	}
	if _, err := rewind("-time", "2026-01-01T00:00:00Z"); !refused(err) || !strings.Contains(err.Error(), "run(s) in flight") {
		t.Fatalf("rewind with a run in flight: %v, want a refusal naming it", err)
	}
	offsetsAre(map[int32]int64{0: 0, 1: 0})

	// The run ends: every schedule is paused, so a plain rewind goes ahead.
	for _, id := range inFlight {
		if err := tc.TerminateWorkflow(ctx, id, "", "test: run over"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rewind("-offset", "3"); err != nil {
		t.Fatal(err)
	}
	offsetsAre(map[int32]int64{0: 3, 1: 3})

	// A Pipeline run the schedule does not know of (started by hand with a
	// schedule-like id) is found through the visibility store.
	manual := ids[1] + "-by-hand"
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: manual, TaskQueue: cfg.Temporal.TaskQueue(config.RoleStg)}, workflows.PipelineName, starter.Input(cfg, 1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), manual, "", "test over") })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		states, err := starter.States(ctx, tc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := starter.InFlight(states); len(got) == 1 && got[0] == manual {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs in flight %v, want %s", starter.InFlight(states), manual)
		}
	}
	if _, err := rewind("-offset", "1"); !refused(err) || !strings.Contains(err.Error(), manual) {
		t.Fatalf("rewind with %s in flight: %v, want a refusal naming it", manual, err)
	}
	offsetsAre(map[int32]int64{0: 3, 1: 3})

	// -pause -time: each partition restarts at its first record at or after
	// the time (records at T0, T0+1h, T0+2h on each; a time between the
	// first two gives offset 1); the manual run must end first.
	if err := tc.TerminateWorkflow(ctx, manual, "", "test: run over"); err != nil {
		t.Fatal(err)
	}
	pcl := testKafka(t, cfg, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 3; i++ {
			r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("{}"), Timestamp: t0.Add(time.Duration(i) * time.Hour)}
			if err := pcl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tc.ScheduleClient().GetHandle(ctx, ids[0]).Unpause(ctx, client.ScheduleUnpauseOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = rewind("-pause", "-time", "2026-11-26T10:30:00Z")
	if err != nil || !strings.Contains(out, "[0] from offset 1") || !strings.Contains(out, "[1] from offset 1") || !strings.Contains(out, "resumed schedule "+ids[0]) {
		t.Fatalf("rewind -pause -time: %v, printed %q", err, out)
	}
	offsetsAre(map[int32]int64{0: 1, 1: 1})
	if p, _ := state(ids[0]); p {
		t.Errorf("%s still paused after rewind -pause -time", ids[0])
	}

	// Usage errors move nothing.
	for _, args := range [][]string{{}, {"-offset", "1", "-time", "2026-01-01T00:00:00Z"}, {"-offset", "-2"}, {"-time", "yesterday"}} {
		if _, err := rewind(args...); err == nil {
			t.Errorf("rewind %v: no error", args)
		}
	}
	offsetsAre(map[int32]int64{0: 1, 1: 1})
}
