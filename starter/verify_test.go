package starter

import (
	"context"
	"errors"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestVerifySchedule: Ensure creates the daily Verify schedule beside the
// pipeline's (overlap skip, the dds queue), updates it keeping its paused
// state, a triggered run goes through a dds worker into stg.verify_runs,
// and Delete removes it.
func TestVerifySchedule(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t, 1)
	cfg.Pipeline.ScheduleInterval = time.Hour // no pipeline tick during the test
	tc, err := client.Dial(client.Options{HostPort: cfg.Temporal.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	id := VerifyScheduleID(cfg)
	describe := func() (*client.ScheduleDescription, error) {
		return tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	}

	ids, err := Ensure(ctx, tc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Delete(context.Background(), tc, cfg) })
	if len(ids) != 1 || ids[0] != ScheduleID(cfg, 0) {
		t.Errorf("Ensure returned %v, want the shard's schedule only", ids)
	}
	d, err := describe()
	if err != nil {
		t.Fatal(err)
	}
	if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != 24*time.Hour || iv[0].Offset != 3*time.Hour {
		t.Errorf("spec %+v, want every 24h at 03:00 UTC", d.Schedule.Spec)
	}
	if d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("overlap %v, want skip", d.Schedule.Policy.Overlap)
	}
	act, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || act.Workflow != workflows.VerifyName || act.TaskQueue != cfg.Temporal.TaskQueue(config.RoleDds) {
		t.Errorf("action %+v, want workflow %s on %s", d.Schedule.Action, workflows.VerifyName, cfg.Temporal.TaskQueue(config.RoleDds))
	}

	// Paused by an operator, ensured again: still paused.
	if err := tc.ScheduleClient().GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, tc, cfg); err != nil {
		t.Fatal(err)
	}
	if d, err = describe(); err != nil || !d.Schedule.State.Paused {
		t.Fatalf("after ensure: paused %v (err %v), want still paused", d != nil && d.Schedule.State.Paused, err)
	}

	// A triggered run: the Verify workflow and RunVerify on a dds worker.
	pool, err := db.Open(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	a := &activities.Activities{DB: activities.Pools{Dds: pool}}
	w := worker.New(tc, cfg.Temporal.TaskQueue(config.RoleDds), worker.Options{})
	w.RegisterWorkflow(workflows.Verify)
	w.RegisterActivity(a.RunVerify)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := tc.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var runs int
	for runs == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM stg.verify_runs`).Scan(&runs); err != nil {
			t.Fatal(err)
		}
	}
	if runs != 1 {
		t.Fatalf("%d verify runs recorded after the trigger, want 1", runs)
	}
	if d, err = describe(); err != nil || len(d.Info.RecentActions) == 0 {
		t.Fatalf("describe: %v, recent actions %v", err, d)
	}
	run := d.Info.RecentActions[0].StartWorkflowResult
	var res workflows.VerifyResult
	if err := tc.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Mismatches != 0 || res.RunID == 0 {
		t.Errorf("result %+v, want a clean recorded run", res)
	}

	if err := Delete(ctx, tc, cfg); err != nil {
		t.Fatal(err)
	}
	var nf *serviceerror.NotFound
	if _, err := describe(); !errors.As(err, &nf) {
		t.Errorf("after Delete: %v, want not found", err)
	}
	if err := deleteVerify(ctx, tc, cfg); err != nil {
		t.Errorf("deleting the Verify schedule again: %v, want no error", err)
	}
}
