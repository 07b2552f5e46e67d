// Package workflows holds the Pipeline workflow: one run moves one
// micro-batch through every layer (SPEC 10). Workflow code is deterministic:
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

// Pipeline moves one batch: FetchBatch → EnrichViaRedis → LoadStg →
// LoadDdsVault → EmitCounters → UpsertCdm → CommitOffsets. The offsets are
// committed only after every layer stored the batch; a failed run commits
// nothing, so the next run re-reads the same range. A full batch with more
// records waiting continues as new at once.
func Pipeline(ctx workflow.Context, in PipelineInput) (PipelineResult, error) {
	var a *activities.Activities
	info := workflow.GetInfo(ctx)
	batch := activities.BatchRef{
		BatchID: info.WorkflowExecution.RunID,
		Shard:   in.Shard,
		Shards:  max(in.Shards, 1),
		LoadDT:  workflow.Now(ctx).UTC().Truncate(time.Microsecond),
	}
	res := PipelineResult{BatchID: batch.BatchID}
	limit := in.BatchSize
	if in.Draining && in.DrainBatchSize > limit {
		limit = in.DrainBatchSize
	}
	stg := workflow.WithActivityOptions(ctx, activityOptions(in.Queues.Stg, in.HeartbeatTimeout))
	dds := workflow.WithActivityOptions(ctx, activityOptions(in.Queues.Dds, in.HeartbeatTimeout))
	cdm := workflow.WithActivityOptions(ctx, activityOptions(in.Queues.Cdm, in.HeartbeatTimeout))
	bi := activities.BatchInput{Batch: batch}

	var fetched activities.FetchBatchResult
	fetchIn := activities.FetchBatchInput{Batch: batch, Limit: limit, DrainLimit: in.DrainBatchSize}
	if err := workflow.ExecuteActivity(stg, a.FetchBatch, fetchIn).Get(ctx, &fetched); err != nil {
		return res, err
	}
	res.Ranges, res.Records, res.Backlog = fetched.Ranges, fetched.Records, fetched.Backlog
	if fetched.Records == 0 {
		// Nothing new: commit the same positions anyway, so a group that stays
		// idle longer than the broker's offsets retention keeps its offsets.
		err := workflow.ExecuteActivity(stg, a.CommitOffsets, activities.CommitInput{Batch: batch, Ranges: fetched.Ranges}).Get(ctx, nil)
		return res, err
	}
	steps := []struct {
		ctx    workflow.Context
		fn     any
		result any
	}{
		{stg, a.EnrichViaRedis, &res.Enrich},
		{stg, a.LoadStg, &res.Stg},
		{dds, a.LoadDdsVault, &res.Dds},
		{dds, a.EmitCounters, &res.Counters},
		{cdm, a.UpsertCdm, &res.Cdm},
	}
	for _, s := range steps {
		if err := workflow.ExecuteActivity(s.ctx, s.fn, bi).Get(ctx, s.result); err != nil {
			return res, err
		}
	}
	if err := workflow.ExecuteActivity(stg, a.CommitOffsets, activities.CommitInput{Batch: batch, Ranges: fetched.Ranges}).Get(ctx, nil); err != nil {
		return res, err
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
