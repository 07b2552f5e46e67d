package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/workflows"
)

// EnsureModeAttribute makes sure the namespace has the OrderflowMode search
// attribute (Keyword) that backfill runs set, creating it through the
// operator service when missing (as `temporal operator search-attribute
// create --name OrderflowMode --type Keyword` does). An error means it is
// absent and could not be created (no permission; on Temporal Cloud create
// it with tcld): Ensure then tells the runs to skip the upsert, and
// backfill runs show their mode only in their memo and result.
func EnsureModeAttribute(ctx context.Context, c client.Client, cfg config.Config) error {
	has := func() (bool, error) {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.Temporal.Namespace})
		if err != nil {
			return false, fmt.Errorf("list search attributes: %w", err)
		}
		t, ok := resp.GetCustomAttributes()[workflows.ModeAttribute]
		if ok && t != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			return false, fmt.Errorf("search attribute %s is %s, want Keyword", workflows.ModeAttribute, t)
		}
		return ok, nil
	}
	ok, err := has()
	if err != nil || ok {
		return err
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        cfg.Temporal.Namespace,
		SearchAttributes: map[string]enumspb.IndexedValueType{workflows.ModeAttribute: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create search attribute %s: %w", workflows.ModeAttribute, err)
	}
	for range 50 { // the frontend's cache catches up within seconds
		if ok, err := has(); err != nil || ok {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("search attribute %s created but not listed yet", workflows.ModeAttribute)
}

// BackfillOptions asks every shard's schedule to re-process the records of
// [From, To).
type BackfillOptions struct {
	From, To time.Time
	// Overlap is the backfill's overlap policy (0: BufferAll, one run of a
	// shard after another; AllowAll runs them at once).
	Overlap enumspb.ScheduleOverlapPolicy
	// Poll is how often progress is checked (0: 1 s).
	Poll time.Duration
	// Progress, when set, hears every change of the counts.
	Progress func(BackfillProgress)
	// Sleep waits (tests may shorten it); nil: time.Sleep honouring ctx.
	Sleep func(context.Context, time.Duration) error
}

// BackfillProgress counts a backfill's runs over every shard. A run's
// continued chunks count once, under the run's workflow id.
type BackfillProgress struct {
	Expected, Completed, Failed, Running int
	// FailedRuns names the workflow ids of failed runs.
	FailedRuns []string
	// First and Last are the nominal times asked for (slices [First -
	// interval, First) to [Last - interval, Last)).
	First, Last time.Time
}

// Slices returns the nominal times of the schedule's runs whose slices
// [n - interval, n) together cover [from, to): the schedule's interval grid
// is aligned to the Unix epoch, so the range widens to whole slices.
func Slices(cfg config.Config, from, to time.Time) (first, last time.Time, n int) {
	iv := cfg.Pipeline.ScheduleInterval
	floor := func(t time.Time) time.Time {
		d := time.Duration(t.UnixNano()) % iv
		if d < 0 {
			d += iv
		}
		return t.Add(-d)
	}
	first = floor(from).Add(iv)
	last = floor(to)
	if last.Before(to) {
		last = last.Add(iv)
	}
	if !last.After(first.Add(-iv)) || !to.After(from) {
		return first, first, 0
	}
	return first.UTC(), last.UTC(), int(last.Sub(first)/iv) + 1
}

// Backfill asks every shard's schedule to start the runs whose slices cover
// [From, To) and waits until they have finished, reporting progress. A run
// counts as a backfill only when its nominal time is more than one catch-up
// window old at its start, so Backfill first waits until the last slice is
// that old. It returns an error when a run failed.
func Backfill(ctx context.Context, c client.Client, cfg config.Config, o BackfillOptions) (BackfillProgress, error) {
	first, last, n := Slices(cfg, o.From, o.To)
	prog := BackfillProgress{First: first, Last: last, Expected: n * cfg.Pipeline.Shards}
	if n == 0 {
		return prog, fmt.Errorf("backfill: empty range [%s, %s)", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if o.Overlap == enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED {
		o.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL
	}
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	if ready := last.Add(CatchupWindow(cfg) + time.Second); time.Now().Before(ready) {
		if err := sleep(ctx, time.Until(ready)); err != nil {
			return prog, err
		}
	}
	asked := time.Now().Add(-time.Second)
	// Half an interval either side: exactly the runs first..last, whether
	// the server takes the range's ends as inclusive or not.
	half := cfg.Pipeline.ScheduleInterval / 2
	req := client.ScheduleBackfill{Start: first.Add(-half), End: last.Add(half), Overlap: o.Overlap}
	if err := each(ctx, c, cfg, func(h client.ScheduleHandle) error {
		return h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{req}})
	}); err != nil {
		return prog, err
	}
	// The nominal times lie on the grid; the query's half-interval margins
	// keep it clear of how the visibility store compares times.
	query := fmt.Sprintf("TemporalScheduledStartTime >= '%s' AND TemporalScheduledStartTime <= '%s' AND StartTime >= '%s'",
		req.Start.UTC().Format(time.RFC3339Nano), req.End.UTC().Format(time.RFC3339Nano), asked.UTC().Format(time.RFC3339Nano))
	var seen BackfillProgress
	for {
		cur := prog
		for _, id := range ScheduleIDs(cfg) {
			if err := countRuns(ctx, c, cfg, fmt.Sprintf("TemporalScheduledById = '%s' AND %s", id, query), &cur); err != nil {
				return prog, err
			}
		}
		if cur.Completed != seen.Completed || cur.Failed != seen.Failed || cur.Running != seen.Running {
			seen = cur
			if o.Progress != nil {
				o.Progress(cur)
			}
		}
		if cur.Completed+cur.Failed >= cur.Expected && cur.Running == 0 {
			if cur.Failed > 0 {
				return cur, fmt.Errorf("backfill: %d of %d runs failed: %v", cur.Failed, cur.Expected, cur.FailedRuns)
			}
			return cur, nil
		}
		if err := sleep(ctx, poll); err != nil {
			return cur, fmt.Errorf("backfill: %d of %d runs finished, %d running (listed with %q): %w",
				cur.Completed+cur.Failed, cur.Expected, cur.Running, query, err)
		}
	}
}

// countRuns adds the runs the query lists to p, one per workflow id: done
// when a run of the id completed, failed when one ended otherwise, running
// while neither.
func countRuns(ctx context.Context, c client.Client, cfg config.Config, query string, p *BackfillProgress) error {
	state := map[string]string{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: cfg.Temporal.Namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("list backfill runs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			switch e.GetStatus() {
			case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				state[id] = "done"
			case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
				if state[id] == "" {
					state[id] = "running"
				}
			default:
				if state[id] != "done" {
					state[id] = "failed"
				}
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	for id, s := range state {
		switch s {
		case "done":
			p.Completed++
		case "failed":
			p.Failed++
			p.FailedRuns = append(p.FailedRuns, id)
		default:
			p.Running++
		}
	}
	return nil
}
