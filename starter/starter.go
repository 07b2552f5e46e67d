// Package starter manages the pipeline's Temporal Schedules: one per shard,
// created or updated from the configuration, and the operator's controls
// (pause, resume, trigger, delete).
package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/workflows"
)

// ScheduleID names shard i's schedule: <SCHEDULE_ID>-<i>-of-<SHARDS>.
func ScheduleID(cfg config.Config, shard int) string {
	return fmt.Sprintf("%s-%d-of-%d", cfg.Pipeline.ScheduleID, shard, cfg.Pipeline.Shards)
}

// ScheduleIDs lists every shard's schedule id.
func ScheduleIDs(cfg config.Config) []string {
	ids := make([]string, cfg.Pipeline.Shards)
	for i := range ids {
		ids[i] = ScheduleID(cfg, i)
	}
	return ids
}

// Input is the workflow input of shard i's runs.
func Input(cfg config.Config, shard int) workflows.PipelineInput {
	return workflows.PipelineInput{
		Shard:            shard,
		Shards:           cfg.Pipeline.Shards,
		BatchSize:        cfg.Pipeline.BatchSize,
		DrainBatchSize:   cfg.Pipeline.DrainBatchSize,
		HeartbeatTimeout: cfg.Pipeline.HeartbeatTimeout,
		MaxPoison:        cfg.MaxPoison,
		Interval:         cfg.Pipeline.ScheduleInterval,
		CatchupWindow:    CatchupWindow(cfg),
		Queues: workflows.Queues{
			Stg: cfg.Temporal.TaskQueue(config.RoleStg),
			Dds: cfg.Temporal.TaskQueue(config.RoleDds),
			Cdm: cfg.Temporal.TaskQueue(config.RoleCdm),
		},
	}
}

// CatchupWindow is how late the schedule may still start an ordinary run:
// two intervals. A run whose nominal time is older than that is a backfill
// (workflows.backfillSlice).
func CatchupWindow(cfg config.Config) time.Duration { return 2 * cfg.Pipeline.ScheduleInterval }

func schedule(cfg config.Config, shard int, in workflows.PipelineInput) (client.ScheduleSpec, *client.ScheduleWorkflowAction) {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.Pipeline.ScheduleInterval}}}
	action := &client.ScheduleWorkflowAction{
		ID:                 ScheduleID(cfg, shard),
		Workflow:           workflows.PipelineName,
		Args:               []any{in},
		TaskQueue:          cfg.Temporal.TaskQueue(config.RoleStg),
		WorkflowRunTimeout: cfg.Pipeline.RunTimeout,
		// The whole chain of a drain (continue-as-new) ends within this.
		WorkflowExecutionTimeout: 6 * cfg.Pipeline.RunTimeout,
	}
	return spec, action
}

// Ensure creates every shard's schedule, or updates it to the current
// configuration (keeping its paused state), and deletes the schedules of a
// former SHARDS value. It returns the shards' ids. It also creates or
// updates the daily Verify schedule (VerifyScheduleID).
func Ensure(ctx context.Context, c client.Client, cfg config.Config) ([]string, error) {
	sc := c.ScheduleClient()
	hasMode := EnsureModeAttribute(ctx, c, cfg) == nil
	for i := 0; i < cfg.Pipeline.Shards; i++ {
		in := Input(cfg, i)
		in.ModeAttribute = hasMode
		spec, action := schedule(cfg, i, in)
		id := ScheduleID(cfg, i)
		_, err := sc.Create(ctx, client.ScheduleOptions{
			ID:            id,
			Spec:          spec,
			Action:        action,
			Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			CatchupWindow: CatchupWindow(cfg),
			Note:          "orderflow pipeline, created by starter",
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
					s.Policy.CatchupWindow = CatchupWindow(cfg)
					return &client.ScheduleUpdate{Schedule: &s}, nil
				},
			})
		}
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", id, err)
		}
	}
	if err := ensureVerify(ctx, c, cfg); err != nil {
		return nil, err
	}
	ids := ScheduleIDs(cfg)
	if err := deleteStale(ctx, c, cfg, ids); err != nil {
		return ids, err
	}
	return ids, nil
}

// deleteStale removes schedules named like ours for another SHARDS value.
func deleteStale(ctx context.Context, c client.Client, cfg config.Config, keep []string) error {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	wanted := map[string]bool{}
	for _, id := range keep {
		wanted[id] = true
	}
	prefix := cfg.Pipeline.ScheduleID + "-"
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, prefix) && strings.Contains(e.ID, "-of-") && !wanted[e.ID] {
			if err := c.ScheduleClient().GetHandle(ctx, e.ID).Delete(ctx); err != nil {
				return fmt.Errorf("delete stale schedule %s: %w", e.ID, err)
			}
		}
	}
	return nil
}

// Pause pauses every shard's schedule with a note saying why.
func Pause(ctx context.Context, c client.Client, cfg config.Config, note string) error {
	return each(ctx, c, cfg, func(h client.ScheduleHandle) error {
		return h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	})
}

// Resume unpauses every shard's schedule.
func Resume(ctx context.Context, c client.Client, cfg config.Config, note string) error {
	return each(ctx, c, cfg, func(h client.ScheduleHandle) error {
		return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	})
}

// Trigger starts a run of every shard now (skipped where one is running).
func Trigger(ctx context.Context, c client.Client, cfg config.Config) error {
	return each(ctx, c, cfg, func(h client.ScheduleHandle) error {
		return h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
	})
}

// Delete removes every shard's schedule and the Verify schedule (running
// workflows finish).
func Delete(ctx context.Context, c client.Client, cfg config.Config) error {
	err := each(ctx, c, cfg, func(h client.ScheduleHandle) error { return h.Delete(ctx) })
	return errors.Join(err, deleteVerify(ctx, c, cfg))
}

func each(ctx context.Context, c client.Client, cfg config.Config, fn func(client.ScheduleHandle) error) error {
	var errs []error
	for _, id := range ScheduleIDs(cfg) {
		if err := fn(c.ScheduleClient().GetHandle(ctx, id)); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
