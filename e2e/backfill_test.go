package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// TestBackfillAfterRestore is the operator's story of CONTRACT §10: the warehouse
// is restored from a backup taken at T1, and a backfill from T1 brings every
// layer back to what it held, without moving the group's offsets; first
// with `temporal schedule backfill`, then with `orderflow backfill`. A
// backfill over data already loaded changes nothing.
func TestBackfillAfterRestore(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing (Debian's postgresql-client)", tool)
		}
	}
	temporalBin, err := devstack.TemporalBin()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.Config(t, 2)
	cfg.Pipeline.Shards = 1
	cfg.Pipeline.ScheduleInterval = 2 * time.Second
	cfg.Pipeline.BatchSize = 100
	cfg.Pipeline.DrainBatchSize = 300 // a slice of the rest holds more: it goes in chunks
	ctx := context.Background()
	s := startStack(t, cfg)

	seed := time.Now().UnixNano()
	t.Logf("simulator seed %d", seed)
	w := simulator.NewWorld(simulator.Options{Seed: seed, Users: 200, Restaurants: 4, End: time.Now().UTC()})
	msgs := w.History(2500)
	if err := w.SaveRefData(ctx, s.rdb); err != nil {
		t.Fatal(err)
	}
	// The first part: every message but the last one of each order in the
	// feed's second half (their timestamps: the past week). The rest holds
	// at most one message per order, so its orders load the same versions
	// whatever the batches' boundaries (a batch keeps one version per order,
	// CONTRACT §6), and the vault's history rows can be compared.
	last := map[int64]int{}
	for i, m := range msgs {
		if m.ObjectID > 0 {
			last[m.ObjectID] = i
		}
	}
	var first, rest []simulator.Message
	for i, m := range msgs {
		if i >= len(msgs)/2 && (m.ObjectID <= 0 || last[m.ObjectID] == i) {
			rest = append(rest, m)
		} else {
			first = append(first, m)
		}
	}
	produce(t, s.kcl, cfg.Kafka.InputTopic, first)
	s.schedule(t)
	s.waitDrained(t, 3*time.Minute)

	// T1: the backup. The rest of the feed gets timestamps after T1, spread
	// over 3 s (two slices or so), in the feed's order.
	t1 := time.Now().UTC()
	dump := filepath.Join(t.TempDir(), "warehouse.dump")
	pgTool(t, "pg_dump", "-Fc", "-f", dump, "-d", cfg.PGDSN)
	for i := range rest {
		rest[i].Timestamp = t1.Add(100*time.Millisecond + time.Duration(i)*3*time.Second/time.Duration(len(rest)))
	}
	t2 := rest[len(rest)-1].Timestamp.Add(time.Millisecond)
	produce(t, s.kcl, cfg.Kafka.InputTopic, rest)
	s.waitDrained(t, 3*time.Minute)
	waitNoRunning(t, s)

	t.Logf("%d messages, then %d after T1", len(first), len(rest))
	all := append(slices.Clone(first), rest...)
	want := w.Expect(all)
	checkMarts(t, s, want)
	before, martsBefore, countersBefore := tableCounts(t, s), martDump(t, s), counterDump(t, s)
	adm := kafkaio.Admin(s.kcl)
	offsetsBefore := committed(t, adm, cfg.Kafka.Group)

	if err := starter.Pause(ctx, s.tc, cfg, "e2e: restore and backfill"); err != nil {
		t.Fatal(err)
	}
	waitNoRunning(t, s)

	// 1. temporal schedule backfill, as an operator types it.
	restore(t, s, dump, before)
	waitOlderThanCatchup(cfg, t2)
	start := time.Now()
	asked := start.Add(-time.Second)
	out, err := exec.Command(temporalBin, "schedule", "backfill",
		"--address", cfg.Temporal.Address, "--namespace", cfg.Temporal.Namespace,
		"--schedule-id", starter.ScheduleID(cfg, 0),
		"--start-time", t1.Format(time.RFC3339Nano), "--end-time", time.Now().UTC().Format(time.RFC3339Nano),
		"--overlap-policy", "AllowAll").CombinedOutput()
	if err != nil {
		t.Fatalf("temporal schedule backfill: %v\n%s", err, out)
	}
	waitBackfilled(t, s, asked)
	t.Logf("temporal schedule backfill: every layer back in %s", time.Since(start).Round(time.Millisecond))
	checkSame(t, s, "after temporal schedule backfill", before, martsBefore, countersBefore)
	checkMarts(t, s, want)
	checkNoDuplicates(t, s)
	if got := committed(t, adm, cfg.Kafka.Group); !maps.Equal(got, offsetsBefore) {
		t.Errorf("the backfill moved the group's offsets: %v, then %v", offsetsBefore, got)
	}
	checkModeAttribute(t, s, asked)

	// 2. orderflow backfill -from T1 -to T2 (the command's binary).
	restore(t, s, dump, before)
	start = time.Now()
	cmd := exec.Command(workerBin, "backfill", "-from", t1.Format(time.RFC3339Nano), "-to", t2.Format(time.RFC3339Nano), "-timeout", "40s")
	cmd.Env = append(append(os.Environ(), cfg.Environ()...), "LOG_LEVEL=warn")
	out, err = cmd.CombinedOutput()
	t.Logf("orderflow backfill (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		dumpRuns(t, s, start.Add(-time.Minute))
		t.Fatalf("orderflow backfill: %v", err)
	}
	checkSame(t, s, "after orderflow backfill", before, martsBefore, countersBefore)
	checkMarts(t, s, want)
	if got := committed(t, adm, cfg.Kafka.Group); !maps.Equal(got, offsetsBefore) {
		t.Errorf("the backfill moved the group's offsets: %v, then %v", offsetsBefore, got)
	}

	// 3. A backfill of data already loaded adds no row and changes no counter.
	start = time.Now()
	prog, err := starter.Backfill(ctx, s.tc, cfg, starter.BackfillOptions{From: t1, To: t2, Poll: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("backfill again: %v (%+v)", err, prog)
	}
	t.Logf("backfill of loaded data: %d runs in %s", prog.Completed, time.Since(start).Round(time.Millisecond))
	checkSame(t, s, "after a backfill of loaded data", before, martsBefore, countersBefore)

	// The schedule goes on as before.
	if err := starter.Resume(ctx, s.tc, cfg, "e2e: done"); err != nil {
		t.Fatal(err)
	}
}

func pgTool(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// restore brings the warehouse back to the dump and checks that it lost rows.
func restore(t *testing.T, s *stack, dump string, full map[string]int64) {
	t.Helper()
	pgTool(t, "pg_restore", "--clean", "--if-exists", "--single-transaction", "-d", s.cfg.PGDSN, dump)
	now := tableCounts(t, s)
	if now["stg.order_events"] >= full["stg.order_events"] || now["dds.h_order"] >= full["dds.h_order"] {
		t.Fatalf("the restore lost nothing: %v, full %v", now, full)
	}
}

// waitOlderThanCatchup waits until a slice ending at t is more than a
// catch-up window old, so its run counts as a backfill.
func waitOlderThanCatchup(cfg config.Config, t time.Time) {
	if d := time.Until(t.Add(cfg.Pipeline.ScheduleInterval + starter.CatchupWindow(cfg) + time.Second)); d > 0 {
		time.Sleep(d)
	}
}

// waitBackfilled waits until the schedule's runs started since asked have
// all finished, and fails on a failed run.
func waitBackfilled(t *testing.T, s *stack, asked time.Time) {
	t.Helper()
	q := fmt.Sprintf("TemporalScheduledById = '%s' AND StartTime >= '%s'", starter.ScheduleID(s.cfg, 0), asked.UTC().Format(time.RFC3339Nano))
	deadline := time.Now().Add(3 * time.Minute)
	quiet := 0
	for time.Now().Before(deadline) {
		resp, err := s.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.cfg.Temporal.Namespace, Query: q, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		running, n := 0, len(resp.GetExecutions())
		for _, e := range resp.GetExecutions() {
			switch e.GetStatus().String() {
			case "Running":
				running++
			case "Completed", "ContinuedAsNew":
			default:
				t.Fatalf("backfill run %s ended %s", e.GetExecution().GetWorkflowId(), e.GetStatus())
			}
		}
		if n > 0 && running == 0 {
			if quiet++; quiet >= 3 { // no new run for a while: the backfill is done
				t.Logf("%d backfill executions", n)
				return
			}
		} else {
			quiet = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal("backfill runs still running after 3 minutes")
}

// checkModeAttribute: the Temporal UI can list the backfill runs.
func checkModeAttribute(t *testing.T, s *stack, asked time.Time) {
	t.Helper()
	q := fmt.Sprintf("OrderflowMode = 'backfill' AND TemporalScheduledById = '%s' AND StartTime >= '%s'", starter.ScheduleID(s.cfg, 0), asked.UTC().Format(time.RFC3339Nano))
	resp, err := s.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.cfg.Temporal.Namespace, Query: q})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetExecutions()) == 0 {
		t.Errorf("no run found with %s", q)
	}
}

func checkSame(t *testing.T, s *stack, when string, counts map[string]int64, marts, counters string) {
	t.Helper()
	got := tableCounts(t, s)
	for table, n := range counts {
		if got[table] != n {
			t.Errorf("%s: %s has %d rows, want %d", when, table, got[table], n)
		}
	}
	if martDump(t, s) != marts {
		t.Errorf("%s: the marts differ", when)
	}
	if counterDump(t, s) != counters {
		t.Errorf("%s: the vault's counters differ", when)
	}
}

// counterDump is the vault's counters, pending flags aside.
func counterDump(t *testing.T, s *stack) string {
	t.Helper()
	var dump string
	err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(string_agg(format('%s/%s/%s', h_user_pk, h_product_pk, order_cnt), ',' ORDER BY h_user_pk, h_product_pk), '') FROM dds.b_user_product_cnt) || '|' ||
		(SELECT coalesce(string_agg(format('%s/%s/%s', h_user_pk, h_category_pk, order_cnt), ',' ORDER BY h_user_pk, h_category_pk), '') FROM dds.b_user_category_cnt)`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	return dump
}

func committed(t *testing.T, adm *kadm.Client, group string) map[string]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.At
	})
	return out
}

// dumpRuns logs the schedule's runs started since since, for a failure.
func dumpRuns(t *testing.T, s *stack, since time.Time) {
	t.Helper()
	q := fmt.Sprintf("TemporalScheduledById = '%s' AND StartTime >= '%s'", starter.ScheduleID(s.cfg, 0), since.UTC().Format(time.RFC3339Nano))
	resp, err := s.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.cfg.Temporal.Namespace, Query: q, PageSize: 1000})
	if err != nil {
		t.Log(err)
		return
	}
	for _, e := range resp.GetExecutions() {
		t.Logf("run %s %s started %s status %s nominal %s", e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), e.GetStartTime().AsTime().Format(time.RFC3339Nano), e.GetStatus(),
			e.GetSearchAttributes().GetIndexedFields()["TemporalScheduledStartTime"].GetData())
	}
	d, err := s.tc.ScheduleClient().GetHandle(context.Background(), starter.ScheduleID(s.cfg, 0)).Describe(context.Background())
	if err == nil {
		t.Logf("schedule: actions %d, skipped %d, missed %d, running %d", d.Info.NumActions, d.Info.NumActionsSkippedOverlap, d.Info.NumActionsMissedCatchupWindow, len(d.Info.RunningWorkflows))
	}
}
