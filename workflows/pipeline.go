// Package workflows holds the Pipeline workflow: one run moves one
// micro-batch through every layer (CONTRACT §10). Workflow code is deterministic:
// no I/O, no wall clock, no randomness; the activities do the work.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/kafkaio"
)

// PipelineInput is what the schedule passes to every run.
type PipelineInput struct {
	Shard          int    `json:"shard"`
	Shards         int    `json:"shards"`
	BatchSize      int    `json:"batch_size"`
	DrainBatchSize int    `json:"drain_batch_size"`
	Queues         Queues `json:"queues"`
	// Draining is set on runs that continue a backlog; they use DrainBatchSize.
	Draining bool `json:"draining,omitempty"`
	// DrainedBefore counts records moved by earlier runs of the same chain.
	DrainedBefore int64 `json:"drained_before,omitempty"`
	// HeartbeatTimeout is how soon an activity of a dead worker is retried
	// (0: 20 s).
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// MaxPoison is how many records of one batch the safety net may set
	// aside before it stops the pipeline instead (0: 10).
	MaxPoison int `json:"max_poison,omitempty"`
	// Interval and CatchupWindow are the schedule's; with them a run tells a
	// backfill from an ordinary run (see backfillSlice). ModeAttribute says
	// the namespace has the OrderflowMode search attribute. Backfill is set
	// on the continued chunks of a backfill run.
	Interval      time.Duration  `json:"interval,omitempty"`
	CatchupWindow time.Duration  `json:"catchup_window,omitempty"`
	ModeAttribute bool           `json:"mode_attribute,omitempty"`
	Backfill      *BackfillSlice `json:"backfill,omitempty"`
}

func (in PipelineInput) maxPoison() int {
	if in.MaxPoison <= 0 {
		return 10
	}
	return in.MaxPoison
}

// Queues names the task queue of each worker role.
type Queues struct {
	Stg string `json:"stg"`
	Dds string `json:"dds"`
	Cdm string `json:"cdm"`
}

// PipelineResult is what an operator sees as the run's result.
type PipelineResult struct {
	BatchID   string                        `json:"batch_id"`
	Ranges    []kafkaio.Range               `json:"ranges"`
	Records   int                           `json:"records"`
	Backlog   int64                         `json:"backlog"`
	Enrich    activities.EnrichResult       `json:"enrich"`
	Stg       activities.LoadStgResult      `json:"stg"`
	Dds       activities.LoadDdsResult      `json:"dds"`
	Counters  activities.EmitCountersResult `json:"counters"`
	Cdm       activities.UpsertCdmResult    `json:"cdm"`
	Continued bool                          `json:"continued"`
	// Poisoned counts the records the safety net set aside (reason poison);
	// Parts counts the parts of the batch it moved to find them.
	Poisoned int `json:"poisoned,omitempty"`
	Parts    int `json:"parts,omitempty"`
	// Mode is "scheduled" or "backfill"; a backfill run re-loaded the
	// records of [SliceFrom, SliceTo) (Backlog: those left for its next chunk).
	Mode      string    `json:"mode,omitempty"`
	SliceFrom time.Time `json:"slice_from,omitzero"`
	SliceTo   time.Time `json:"slice_to,omitzero"`
}

// retry is the policy of every activity: transient failures (a database or
// broker that is down) retry with backoff until the activity's schedule-to-close
// timeout; non-retryable application errors stop at once.
var retry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
}

// activityOptions holds every activity's timeouts in one place: a try may
// take 2 minutes, retries go on for 8, and a worker that stops heartbeating
// (it died) loses the activity after the heartbeat timeout.
func activityOptions(queue string, heartbeat time.Duration) workflow.ActivityOptions {
	if heartbeat <= 0 {
		heartbeat = 20 * time.Second
	}
	return workflow.ActivityOptions{
		TaskQueue:              queue,
		StartToCloseTimeout:    2 * time.Minute,
		ScheduleToCloseTimeout: 8 * time.Minute,
		HeartbeatTimeout:       heartbeat,
		RetryPolicy:            retry,
	}
}

// PipelineName is the name Temporal knows Pipeline by (the workers
// register the function, and the SDK names it after it): the schedules
// start it by this name.
const PipelineName = "Pipeline"

// Pipeline moves one batch: FetchBatch → EnrichViaRedis → LoadStg →
// LoadDdsVault → EmitCounters → UpsertCdm → CommitOffsets. The offsets are
// committed only after every layer stored the batch; a failed run commits
// nothing, so the next run re-reads the same range. When a step fails for
// good with an error records can cause, the safety net (isolate) sets the
// guilty records aside as poison and loads the rest. A run that fails for
// good records its failure (RecordFailure) for the stall alarms. A full
// batch with more records waiting continues as new at once. A backfilled
// run (backfillSlice) re-loads its time slice instead (backfill).
func Pipeline(ctx workflow.Context, in PipelineInput) (res PipelineResult, err error) {
	if slice, ok := backfillSlice(ctx, in); ok {
		return backfill(ctx, in, slice)
	}
	var a *activities.Activities
	info := workflow.GetInfo(ctx)
	batch := activities.BatchRef{
		BatchID: info.WorkflowExecution.RunID,
		Shard:   in.Shard,
		Shards:  max(in.Shards, 1),
		LoadDT:  workflow.Now(ctx).UTC().Truncate(time.Microsecond),
	}
	res.BatchID, res.Mode = batch.BatchID, ModeScheduled
	limit := in.BatchSize
	if in.Draining && in.DrainBatchSize > limit {
		limit = in.DrainBatchSize
	}
	p := newPlan(ctx, in)
	step := activities.FetchBatchName
	defer func() {
		if err != nil && !workflow.IsContinueAsNewError(err) {
			p.recordFailure(ctx, batch, step, err)
		}
	}()

	var fetched activities.FetchBatchResult
	fetchIn := activities.FetchBatchInput{Batch: batch, Limit: limit, DrainLimit: in.DrainBatchSize}
	if err := workflow.ExecuteActivity(p.stg, a.FetchBatch, fetchIn).Get(ctx, &fetched); err != nil {
		return res, err
	}
	res.Ranges, res.Records, res.Backlog = fetched.Ranges, fetched.Records, fetched.Backlog
	if fetched.Records > 0 {
		if step, err = p.load(ctx, in, batch, fetched.Records, &res); err != nil {
			return res, err
		}
	}
	// An idle run commits the same positions anyway, so a group that stays
	// idle longer than the broker's offsets retention keeps its offsets.
	step = activities.CommitOffsetsName
	if err := workflow.ExecuteActivity(p.stg, a.CommitOffsets, activities.CommitInput{Batch: batch, Ranges: fetched.Ranges, Parts: res.Parts}).Get(ctx, nil); err != nil {
		return res, err
	}
	if fetched.Records == 0 {
		return res, nil
	}
	if fetched.Limit > limit {
		limit = fetched.Limit // FetchBatch saw a backlog and took a drain-sized batch
	}
	if fetched.Records >= limit && fetched.Backlog > 0 {
		next := in
		next.Draining = true
		next.DrainedBefore += int64(fetched.Records)
		res.Continued = true
		return res, workflow.NewContinueAsNewError(ctx, Pipeline, next)
	}
	return res, nil
}

// stepResults are where the steps of a whole batch put their results.
func (r *PipelineResult) stepResults() []any {
	return []any{&r.Enrich, &r.Stg, &r.Dds, &r.Counters, &r.Cdm}
}

// plan holds each worker role's activity options and the batch's steps.
type plan struct {
	stg, dds, cdm workflow.Context
	steps         []planStep
}

type planStep struct {
	name string
	ctx  workflow.Context
	fn   any
}

func newPlan(ctx workflow.Context, in PipelineInput) *plan {
	var a *activities.Activities
	p := &plan{
		stg: workflow.WithActivityOptions(ctx, activityOptions(in.Queues.Stg, in.HeartbeatTimeout)),
		dds: workflow.WithActivityOptions(ctx, activityOptions(in.Queues.Dds, in.HeartbeatTimeout)),
		cdm: workflow.WithActivityOptions(ctx, activityOptions(in.Queues.Cdm, in.HeartbeatTimeout)),
	}
	p.steps = []planStep{
		{activities.EnrichViaRedisName, p.stg, a.EnrichViaRedis},
		{activities.LoadStgName, p.stg, a.LoadStg},
		{activities.LoadDdsVaultName, p.dds, a.LoadDdsVault},
		{activities.EmitCountersName, p.dds, a.EmitCounters},
		{activities.UpsertCdmName, p.cdm, a.UpsertCdm},
	}
	return p
}

// load moves a fetched batch of records through the steps after the fetch
// (run); when a step fails because of a record, the safety net (isolate.go)
// sets the poison records aside and loads the rest. It returns the step it
// stopped at and the error that stops the run, if any.
func (p *plan) load(ctx workflow.Context, in PipelineInput, batch activities.BatchRef, records int, res *PipelineResult) (string, error) {
	step, failed := p.run(ctx, batch, res.stepResults())
	if failed == nil || !recordCaused(failed) {
		return step, failed
	}
	iso := &isolation{plan: p, parent: batch, max: in.maxPoison()}
	if err := iso.search(ctx, records, step, failed); err != nil {
		return step, err
	}
	res.Poisoned, res.Parts = iso.poisoned, iso.parts
	return step, nil
}

// run moves a fetched batch (or a part of one) through the steps after
// FetchBatch; results[i], when given, receives step i's result. It returns
// the step it stopped at and that step's error.
func (p *plan) run(ctx workflow.Context, b activities.BatchRef, results []any) (string, error) {
	in := activities.BatchInput{Batch: b}
	for i, s := range p.steps {
		var out any
		if results != nil {
			out = results[i]
		}
		if err := workflow.ExecuteActivity(s.ctx, s.fn, in).Get(ctx, out); err != nil {
			return s.name, err
		}
	}
	return "", nil
}

// recordFailure stores the run's failure for the stall alarms; a failure to
// record it is only logged (the alarms also watch the commits).
func (p *plan) recordFailure(ctx workflow.Context, b activities.BatchRef, step string, err error) {
	var a *activities.Activities
	typ, msg := errorType(err), err.Error()
	rctx := workflow.WithActivityOptions(p.stg, workflow.ActivityOptions{
		TaskQueue:           workflow.GetActivityOptions(p.stg).TaskQueue,
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	in := activities.RecordFailureInput{Batch: b, Step: step, ErrorType: typ, Message: msg}
	if e := workflow.ExecuteActivity(rctx, a.RecordFailure, in).Get(ctx, nil); e != nil {
		workflow.GetLogger(ctx).Error("could not record the run's failure", "error", e)
	}
}
