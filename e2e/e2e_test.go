// Package e2e runs the whole pipeline (real schedule, workflow and workers)
// against real PostgreSQL, Redis, a kfake broker and the Temporal dev server,
// and checks the warehouse against the simulator's independent oracle.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/pipeline"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

func TestPipelineEndToEnd(t *testing.T) {
	cfg := testenv.Config(t, 1)
	cfg.Pipeline.ScheduleInterval = 2 * time.Second
	cfg.Pipeline.BatchSize = 100
	cfg.Pipeline.DrainBatchSize = 1000
	ctx := context.Background()

	w, msgs, want := pipeline.Generate(t, simulator.Options{Users: 300, Restaurants: 5, End: time.Now().UTC()}, 3000)

	s := startStack(t, cfg)
	pipeline.Feed(t, cfg, s.rdb, s.kcl, s.tc, w, msgs)
	s.waitDrained(t, 4*time.Minute)

	saveHistory(t, s)
	checkMarts(t, s, want)
	checkRejected(t, s, msgs, want)
	checkReasonsSeen(t, want, "malformed_json", "invalid_order", "ignored_object_type", "unknown_restaurant", "product_not_in_menu")
	checkStgTopic(t, s, msgs, want)
	checkCountersTopic(t, s, w, want)
	checkNoDuplicates(t, s)
	checkVerify(t, s)

	// Replay the whole topic from offset 0: nothing may change.
	before := tableCounts(t, s)
	martsBefore := martDump(t, s)
	if err := starter.Pause(ctx, s.tc, cfg, "e2e replay"); err != nil {
		t.Fatal(err)
	}
	waitNoRunning(t, s)
	if err := kafkaio.Rewind(ctx, kafkaio.Admin(s.kcl), cfg.Kafka.Group, cfg.Kafka.InputTopic, 0); err != nil {
		t.Fatal(err)
	}
	if err := starter.Resume(ctx, s.tc, cfg, "e2e replay"); err != nil {
		t.Fatal(err)
	}
	if err := starter.Trigger(ctx, s.tc, cfg); err != nil {
		t.Fatal(err)
	}
	s.waitDrained(t, 4*time.Minute)
	var replayed int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(fetched), 0) FROM stg.batches WHERE committed_at IS NOT NULL`).Scan(&replayed); err != nil {
		t.Fatal(err)
	}
	if replayed < 2*len(msgs) {
		t.Fatalf("replay moved %d records in total, want at least %d (twice the topic)", replayed, 2*len(msgs))
	}
	after := tableCounts(t, s)
	for table, n := range before {
		if after[table] != n {
			t.Errorf("replay changed %s: %d rows, then %d", table, n, after[table])
		}
	}
	if got := martDump(t, s); got != martsBefore {
		t.Errorf("replay changed the marts")
	}
}
