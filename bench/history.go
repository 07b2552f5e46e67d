package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
)

// activityOrder is the pipeline's order of the activities; others sort after.
var activityOrder = []string{"FetchBatch", "EnrichViaRedis", "LoadStg", "LoadDdsVault", "EmitCounters", "UpsertCdm", "CommitOffsets"}

// ActivityTiming is one activity of a run, read from the run's history.
type ActivityTiming struct {
	Name                       string
	Scheduled, Started, Closed time.Time
	Attempt                    int32 // 1 unless retried
}

// QueueWait is Scheduled → Started (for a retried activity, with the backoff).
func (a ActivityTiming) QueueWait() time.Duration { return max(a.Started.Sub(a.Scheduled), 0) }

// Exec is Started → Closed: the worker running the activity.
func (a ActivityTiming) Exec() time.Duration { return max(a.Closed.Sub(a.Started), 0) }

// RunTiming is one workflow run (one batch) read from its history.
type RunTiming struct {
	RunID      string
	Start, End time.Time // End is zero while the run is open
	NextRunID  string    // the run it continued as, if any
	Activities []ActivityTiming
	// WorkflowTasks sums the workflow tasks, Scheduled → Completed.
	WorkflowTasks time.Duration
	// StartDelay is Started → the first workflow task: after a
	// continue-as-new it fills up a run shorter than Temporal's
	// history.continueAsNewMinInterval (1 s).
	StartDelay time.Duration
}

// Wall is the run's duration.
func (r RunTiming) Wall() time.Duration { return max(r.End.Sub(r.Start), 0) }

// parseRun turns a run's history events into its timings.
func parseRun(runID string, events []*historypb.HistoryEvent) RunTiming {
	r := RunTiming{RunID: runID}
	acts := map[int64]int{}      // scheduled event id → index in r.Activities
	wft := map[int64]time.Time{} // workflow task scheduled event id → time
	closeAct := func(scheduled int64, t time.Time) {
		if i, ok := acts[scheduled]; ok {
			r.Activities[i].Closed = t
		}
	}
	for _, ev := range events {
		t := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			r.Start = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			if len(wft) == 0 && !r.Start.IsZero() {
				r.StartDelay = max(t.Sub(r.Start), 0)
			}
			wft[ev.GetEventId()] = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if s, ok := wft[ev.GetWorkflowTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				r.WorkflowTasks += max(t.Sub(s), 0)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			acts[ev.GetEventId()] = len(r.Activities)
			name := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			r.Activities = append(r.Activities, ActivityTiming{Name: name, Scheduled: t, Started: t, Closed: t, Attempt: 1})
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := ev.GetActivityTaskStartedEventAttributes()
			if i, ok := acts[a.GetScheduledEventId()]; ok {
				r.Activities[i].Started, r.Activities[i].Closed = t, t
				r.Activities[i].Attempt = max(a.GetAttempt(), 1)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			closeAct(ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId(), t)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			closeAct(ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId(), t)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			closeAct(ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId(), t)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			closeAct(ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId(), t)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			r.End, r.NextRunID = t, ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
			r.End = t
		}
	}
	return r
}

// ActivityStat sums one activity type over the runs of a scenario.
type ActivityStat struct {
	Name        string  `json:"name"`
	Count       int     `json:"count"`
	ExecS       float64 `json:"exec_s"`
	MeanExecMs  float64 `json:"mean_exec_ms"`
	MeanQueueMs float64 `json:"mean_queue_ms"`
	MaxExecMs   float64 `json:"max_exec_ms"`
	ExecMsPer1k float64 `json:"exec_ms_per_1k_records"` // per 1,000 records fetched
	ShareOfWall float64 `json:"share_of_wall"`          // of the runs' summed wall time
}

// RunSummary is one run in results.json.
type RunSummary struct {
	RunID      string             `json:"run_id"`
	Records    int                `json:"records"`
	WallMs     float64            `json:"wall_ms"`
	StartDelay float64            `json:"start_delay_ms"`
	ActivityMs map[string]float64 `json:"activity_ms"`
}

// Breakdown is where the time of a scenario's runs went.
type Breakdown struct {
	Runs    int `json:"runs"`
	Records int `json:"records"`
	// WallS sums the runs' wall times; ChainGapS the gaps between a run's
	// end and the next run's start within a continue-as-new chain.
	WallS         float64 `json:"wall_s"`
	ChainGapS     float64 `json:"chain_gap_s"`
	ExecS         float64 `json:"exec_s"`
	QueueS        float64 `json:"queue_wait_s"`
	WorkflowTaskS float64 `json:"workflow_task_s"`
	// StartDelayS sums the runs' StartDelay; DelayedRuns counts those over 50 ms.
	StartDelayS float64 `json:"start_delay_s"`
	DelayedRuns int     `json:"delayed_runs"`
	// OverheadS is WallS − ExecS: orchestration (queue waits, workflow
	// tasks, dispatch); OverheadPerRunMs is its mean per run (per batch).
	OverheadS        float64        `json:"overhead_s"`
	OverheadPerRunMs float64        `json:"overhead_per_run_ms"`
	Retries          int            `json:"retries"`
	Activities       []ActivityStat `json:"activities"`
	PerRun           []RunSummary   `json:"per_run,omitempty"`
}

// summarize adds up runs; records maps a run id (the batch id) to the
// records its batch fetched. With perRun the result lists every run.
func summarize(runs []RunTiming, records map[string]int, perRun bool) Breakdown {
	var b Breakdown
	stats := map[string]*ActivityStat{}
	for _, r := range runs {
		b.Runs++
		b.Records += records[r.RunID]
		b.WallS += r.Wall().Seconds()
		b.WorkflowTaskS += r.WorkflowTasks.Seconds()
		b.StartDelayS += r.StartDelay.Seconds()
		if r.StartDelay > 50*time.Millisecond {
			b.DelayedRuns++
		}
		if i := slices.IndexFunc(runs, func(n RunTiming) bool { return n.RunID == r.NextRunID }); i >= 0 && !r.End.IsZero() {
			b.ChainGapS += max(runs[i].Start.Sub(r.End), 0).Seconds()
		}
		rs := RunSummary{RunID: r.RunID, Records: records[r.RunID], WallMs: ms(r.Wall()), StartDelay: ms(r.StartDelay), ActivityMs: map[string]float64{}}
		for _, a := range r.Activities {
			s := stats[a.Name]
			if s == nil {
				s = &ActivityStat{Name: a.Name}
				stats[a.Name] = s
			}
			s.Count++
			s.ExecS += a.Exec().Seconds()
			s.MeanQueueMs += ms(a.QueueWait()) // divided below
			s.MaxExecMs = max(s.MaxExecMs, ms(a.Exec()))
			rs.ActivityMs[a.Name] += ms(a.Exec())
			b.ExecS += a.Exec().Seconds()
			b.QueueS += a.QueueWait().Seconds()
			b.Retries += int(max(a.Attempt, 1) - 1)
		}
		if perRun {
			b.PerRun = append(b.PerRun, rs)
		}
	}
	b.OverheadS = math.Max(b.WallS-b.ExecS, 0)
	if b.Runs > 0 {
		b.OverheadPerRunMs = b.OverheadS * 1000 / float64(b.Runs)
	}
	for _, s := range stats {
		s.MeanExecMs = s.ExecS * 1000 / float64(s.Count)
		s.MeanQueueMs /= float64(s.Count)
		if b.Records > 0 {
			s.ExecMsPer1k = s.ExecS * 1e6 / float64(b.Records)
		}
		if b.WallS > 0 {
			s.ShareOfWall = s.ExecS / b.WallS
		}
		b.Activities = append(b.Activities, *s)
	}
	rank := func(name string) int {
		if i := slices.Index(activityOrder, name); i >= 0 {
			return i
		}
		return len(activityOrder)
	}
	slices.SortFunc(b.Activities, func(x, y ActivityStat) int {
		if d := rank(x.Name) - rank(y.Name); d != 0 {
			return d
		}
		return cmp.Compare(x.Name, y.Name)
	})
	return b
}

// Activity returns the stat of the named activity (zero if it never ran).
func (b Breakdown) Activity(name string) ActivityStat {
	if i := slices.IndexFunc(b.Activities, func(s ActivityStat) bool { return s.Name == name }); i >= 0 {
		return b.Activities[i]
	}
	return ActivityStat{Name: name}
}

// batchRow is one row of stg.batches.
type batchRow struct {
	ID        string
	Fetched   int
	Started   time.Time
	Committed *time.Time // nil while open
	Ranges    []kafkaio.Range
}

// batches reads stg.batches, keyed by batch id (= run id).
func (st *stack) batches(ctx context.Context) (map[string]batchRow, error) {
	rows, _ := st.pool.Query(ctx, `SELECT batch_id, fetched, started_at, committed_at, ranges FROM stg.batches`)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[batchRow])
	out := map[string]batchRow{}
	for _, b := range list {
		out[b.ID] = b
	}
	return out, err
}

// loaded keeps the runs that moved a batch (idle runs leave no row in
// stg.batches) and the records each fetched, for summarize.
func loaded(runs []RunTiming, batches map[string]batchRow) ([]RunTiming, map[string]int) {
	var out []RunTiming
	records := map[string]int{}
	for _, r := range runs {
		if b, ok := batches[r.RunID]; ok {
			out, records[r.RunID] = append(out, r), b.Fetched
		}
	}
	return out, records
}

// chainRuns reads every run the schedules started recently, following each
// continue-as-new chain to its end.
func (st *stack) chainRuns(ctx context.Context) ([]RunTiming, error) {
	var runs []RunTiming
	for _, id := range starter.ScheduleIDs(st.Config) {
		d, err := st.b.tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		for _, a := range d.Info.RecentActions {
			if wf := a.StartWorkflowResult; wf != nil {
				for runID := wf.FirstExecutionRunID; runID != ""; runID = runs[len(runs)-1].NextRunID {
					r, err := st.runTiming(ctx, wf.WorkflowID, runID)
					if err != nil {
						return nil, err
					}
					runs = append(runs, r)
				}
			}
		}
	}
	return runs, nil
}

// listRuns reads every closed run of the scenario's schedules through the
// visibility store (WorkflowId STARTS_WITH the schedule id).
func (st *stack) listRuns(ctx context.Context) ([]RunTiming, error) {
	var runs []RunTiming
	req := &workflowservice.ListWorkflowExecutionsRequest{Namespace: st.Config.Temporal.Namespace, PageSize: 1000,
		Query: fmt.Sprintf(`WorkflowId STARTS_WITH %q`, st.Config.Pipeline.ScheduleID+"-")}
	for {
		resp, err := st.b.tc.ListWorkflow(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				continue
			}
			r, err := st.runTiming(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
		if req.NextPageToken = resp.GetNextPageToken(); len(req.NextPageToken) == 0 {
			return runs, nil
		}
	}
}

// runTiming reads one run's history, waiting (long poll, at most 30 s) for
// the run to close.
func (st *stack) runTiming(ctx context.Context, workflowID, runID string) (RunTiming, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	it := st.b.tc.GetWorkflowHistory(ctx, workflowID, runID, true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return RunTiming{}, fmt.Errorf("history of %s/%s: %w", workflowID, runID, err)
		}
		events = append(events, ev)
	}
	return parseRun(runID, events), nil
}
