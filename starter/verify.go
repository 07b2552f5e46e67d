package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/workflows"
)

// The daily verification (CONTRACT §14): every day at VerifyAt past midnight UTC.
const (
	VerifyEvery = 24 * time.Hour
	VerifyAt    = 3 * time.Hour
	// verifyTimeout bounds a whole run, retries included.
	verifyTimeout = 3 * time.Hour
)

// VerifyScheduleID names the daily Verify schedule: <SCHEDULE_ID>-verify.
// (No "-of-", so deleteStale never takes it for a shard's.)
func VerifyScheduleID(cfg config.Config) string { return cfg.Pipeline.ScheduleID + "-verify" }

// VerifyInput is the Verify workflow's input: RunVerify runs on the dds queue.
func VerifyInput(cfg config.Config) workflows.VerifyInput {
	return workflows.VerifyInput{Queue: cfg.Temporal.TaskQueue(config.RoleDds), HeartbeatTimeout: cfg.Pipeline.HeartbeatTimeout}
}

func verifySchedule(cfg config.Config) (client.ScheduleSpec, *client.ScheduleWorkflowAction) {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: VerifyEvery, Offset: VerifyAt}}}
	action := &client.ScheduleWorkflowAction{
		ID:                       VerifyScheduleID(cfg),
		Workflow:                 workflows.VerifyName,
		Args:                     []any{VerifyInput(cfg)},
		TaskQueue:                cfg.Temporal.TaskQueue(config.RoleDds),
		WorkflowExecutionTimeout: verifyTimeout,
	}
	return spec, action
}

// ensureVerify creates the daily Verify schedule, or updates it to the
// current configuration (keeping its paused state). Overlap: skip.
func ensureVerify(ctx context.Context, c client.Client, cfg config.Config) error {
	sc := c.ScheduleClient()
	spec, action := verifySchedule(cfg)
	id := VerifyScheduleID(cfg)
	catchup := 6 * time.Hour // a server down at the hour still runs the day's check
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:            id,
		Spec:          spec,
		Action:        action,
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: catchup,
		Note:          "orderflow daily verification (CONTRACT §14), created by starter",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				if s.Policy == nil {
					s.Policy = &client.SchedulePolicies{}
				}
				s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
				s.Policy.CatchupWindow = catchup
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("schedule %s: %w", id, err)
	}
	return nil
}

// deleteVerify removes the Verify schedule; one that is not there is no error.
func deleteVerify(ctx context.Context, c client.Client, cfg config.Config) error {
	id := VerifyScheduleID(cfg)
	err := c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("schedule %s: %w", id, err)
	}
	return nil
}
