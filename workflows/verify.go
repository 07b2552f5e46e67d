package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orderflow/orderflow/activities"
)

// VerifyInput is what the daily verify schedule passes to every run.
type VerifyInput struct {
	// Queue is the dds task queue, where RunVerify runs.
	Queue string `json:"queue"`
	// HeartbeatTimeout is how soon the activity of a dead worker is retried (0: 20 s).
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
}

// VerifyResult is what an operator sees as the run's result (CONTRACT §14).
type VerifyResult struct {
	// RunID is the run's row in stg.verify_runs (its detail lists the first differences).
	RunID int64 `json:"run_id"`
	// Mismatches counts every problem found: counter and name differences
	// plus orphan rows.
	Mismatches  int64 `json:"mismatches"`
	Differences int   `json:"differences"`
	Orphans     int64 `json:"orphans"`
	// InFlight counts differences a batch still in flight explained.
	InFlight    int   `json:"in_flight"`
	RowsChecked int64 `json:"rows_checked"`
	// Duration is how long the check itself took.
	Duration time.Duration `json:"duration"`
}

// verifyOptions: one check reads the whole vault, so a try may take 30
// minutes (the heartbeat shows it alive) and failures retry for 2 hours.
func verifyOptions(in VerifyInput) workflow.ActivityOptions {
	heartbeat := in.HeartbeatTimeout
	if heartbeat <= 0 {
		heartbeat = 20 * time.Second
	}
	return workflow.ActivityOptions{
		TaskQueue:              in.Queue,
		StartToCloseTimeout:    30 * time.Minute,
		ScheduleToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:       heartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    5 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	}
}

// VerifyName is the name Temporal knows Verify by (the workers register
// the function, and the SDK names it after it): the daily schedule starts
// it by this name.
const VerifyName = "Verify"

// Verify recomputes the marts from the vault and compares them with the
// per-user counters and the marts (one activity, RunVerify, on the dds
// queue). Mismatches are its result, not a failure: the run fails only when
// the check could not be made.
func Verify(ctx workflow.Context, in VerifyInput) (VerifyResult, error) {
	var a *activities.Activities
	var r activities.VerifyResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, verifyOptions(in)), a.RunVerify).Get(ctx, &r); err != nil {
		return VerifyResult{}, err
	}
	return VerifyResult{
		RunID: r.RunID, Mismatches: r.Mismatches, Differences: r.Differences, Orphans: r.Orphans,
		InFlight: r.InFlight, RowsChecked: r.RowsChecked, Duration: time.Duration(r.DurationMs) * time.Millisecond,
	}, nil
}
