package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/workflows"
)

// RewindNote is the note of a schedule paused by `orderflow rewind -pause`.
const RewindNote = "paused by orderflow rewind"

// ShardState is one shard's schedule and its Pipeline runs in flight, as
// the rewind command sees them (CONTRACT §10: rewind is safe).
type ShardState struct {
	ScheduleID string
	Exists     bool // false: no such schedule (never created, or deleted)
	Paused     bool
	Note       string
	// Running lists the ids of the shard's Pipeline workflows whose latest
	// run is running (a continue-as-new chain keeps its workflow id).
	Running []string
}

// Busy says why the offsets may not be moved now: the schedule may fire, or
// a run may commit its own range after the move. "" when neither.
func (s ShardState) Busy() string {
	var why []string
	if s.Exists && !s.Paused {
		why = append(why, "is not paused")
	}
	if len(s.Running) > 0 {
		why = append(why, fmt.Sprintf("has %d run(s) in flight (%s)", len(s.Running), strings.Join(s.Running, ", ")))
	}
	if len(why) == 0 {
		return ""
	}
	return "schedule " + s.ScheduleID + " " + strings.Join(why, " and ")
}

// States describes every shard's schedule and its Pipeline runs in flight.
// A run counts as in flight when the schedule lists it as running or the
// visibility store lists a running Pipeline workflow whose id starts with
// the schedule id, and DescribeWorkflow of that workflow id (its
// latest run) says it is running.
func States(ctx context.Context, c client.Client, cfg config.Config) ([]ShardState, error) {
	out := make([]ShardState, 0, cfg.Pipeline.Shards)
	for _, id := range ScheduleIDs(cfg) {
		st := ShardState{ScheduleID: id}
		candidates := map[string]bool{}
		d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
		case err != nil:
			return nil, fmt.Errorf("describe schedule %s: %w", id, err)
		default:
			st.Exists = true
			st.Paused, st.Note = d.Schedule.State.Paused, d.Schedule.State.Note
			for _, w := range d.Info.RunningWorkflows {
				candidates[w.WorkflowID] = true
			}
		}
		listed, err := listRunning(ctx, c, id+"-")
		if err != nil {
			return nil, err
		}
		for _, wid := range listed {
			candidates[wid] = true
		}
		for wid := range candidates {
			running, err := isRunning(ctx, c, wid)
			if err != nil {
				return nil, err
			}
			if running {
				st.Running = append(st.Running, wid)
			}
		}
		slices.Sort(st.Running)
		out = append(out, st)
	}
	return out, nil
}

// listRunning asks the visibility store for running Pipeline workflows
// whose id starts with prefix. The store is eventually consistent: it backs
// up the schedule's own list of running workflows.
func listRunning(ctx context.Context, c client.Client, prefix string) ([]string, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '%s'", workflows.PipelineName, strings.ReplaceAll(prefix, "'", "\\'"))
	var ids []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list running Pipeline workflows %s*: %w", prefix, err)
		}
		for _, e := range resp.Executions {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return ids, nil
		}
	}
}

// isRunning reports whether the latest run of workflow id is running.
func isRunning(ctx context.Context, c client.Client, id string) (bool, error) {
	d, err := c.DescribeWorkflow(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe workflow %s: %w", id, err)
	}
	return d.RawResponse.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// PauseUnpaused pauses every shard's schedule that exists and is not paused
// yet, with note, and returns the ids it paused (only those are to be
// resumed afterwards). On an error it returns the ids paused so far.
func PauseUnpaused(ctx context.Context, c client.Client, cfg config.Config, note string) ([]string, error) {
	states, err := States(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	var paused []string
	for _, st := range states {
		if !st.Exists || st.Paused {
			continue
		}
		h := c.ScheduleClient().GetHandle(ctx, st.ScheduleID)
		if err := h.Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
			return paused, fmt.Errorf("pause schedule %s: %w", st.ScheduleID, err)
		}
		paused = append(paused, st.ScheduleID)
	}
	return paused, nil
}

// ResumeOnly unpauses the given schedules (those a rewind paused).
func ResumeOnly(ctx context.Context, c client.Client, ids []string, note string) error {
	var errs []error
	for _, id := range ids {
		if err := c.ScheduleClient().GetHandle(ctx, id).Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}); err != nil {
			errs = append(errs, fmt.Errorf("resume schedule %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// ErrStillBusy is returned by WaitIdle when a shard is still busy (a run in
// flight, or its schedule unpaused) at the deadline.
var ErrStillBusy = errors.New("the pipeline is still busy")

// WaitIdle waits, up to timeout, until no shard is busy (ShardState.Busy):
// every existing schedule paused and no Pipeline run in flight. It calls
// progress (when not nil) with what is still busy about every `every`, and
// returns the last states seen.
func WaitIdle(ctx context.Context, c client.Client, cfg config.Config, timeout, every time.Duration, progress func(busy []string, waited time.Duration)) ([]ShardState, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	lastReport := time.Time{}
	for {
		states, err := States(ctx, c, cfg)
		if err != nil {
			return nil, err
		}
		busy := BusyReasons(states)
		if len(busy) == 0 {
			return states, nil
		}
		now := time.Now()
		if now.After(deadline) {
			return states, fmt.Errorf("%w after %s: %s", ErrStillBusy, timeout, strings.Join(busy, "; "))
		}
		if progress != nil && now.Sub(lastReport) >= every {
			progress(busy, now.Sub(start))
			lastReport = now
		}
		select {
		case <-ctx.Done():
			return states, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// BusyReasons lists ShardState.Busy of every busy shard.
func BusyReasons(states []ShardState) []string {
	var why []string
	for _, st := range states {
		if b := st.Busy(); b != "" {
			why = append(why, b)
		}
	}
	return why
}

// InFlight lists the workflow ids of every shard's runs in flight.
func InFlight(states []ShardState) []string {
	var ids []string
	for _, st := range states {
		ids = append(ids, st.Running...)
	}
	return ids
}

// ResumeHint tells an operator how to resume the schedules ids that a
// failed rewind left paused.
func ResumeHint(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the schedules rewind paused are LEFT PAUSED: %s.\nResume them once the offsets are right with `orderflow schedule resume -note ...` (every shard), or one by one:", strings.Join(ids, ", "))
	for _, id := range ids {
		fmt.Fprintf(&b, "\n  bin/temporal schedule toggle --schedule-id %s --unpause --reason \"after rewind\"", id)
	}
	return b.String()
}
