package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orderflow/orderflow/activities"
)

// Run modes, as PipelineResult.Mode and the OrderflowMode search attribute
// show them.
const (
	ModeScheduled = "scheduled"
	ModeBackfill  = "backfill"
)

// ModeAttribute is the custom search attribute (Keyword) a backfill run
// sets to "backfill", so the Temporal UI lists them with
// `OrderflowMode = 'backfill'`. The namespace must know it: the dev server
// is started with --search-attribute OrderflowMode=Keyword and
// `orderflow schedule ensure` creates it where missing; runs upsert it only
// when PipelineInput.ModeAttribute says the namespace has it.
const ModeAttribute = "OrderflowMode"

var (
	modeKey      = temporal.NewSearchAttributeKeyKeyword(ModeAttribute)
	scheduledKey = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")
)

// BackfillSlice is the time slice [From, To) a backfill run re-loads, and
// where its next chunk starts (Next, End: nil on the slice's first chunk).
type BackfillSlice struct {
	From time.Time       `json:"from"`
	To   time.Time       `json:"to"`
	Next map[int32]int64 `json:"next,omitempty"`
	End  map[int32]int64 `json:"end,omitempty"`
	// DoneBefore counts the slice's records earlier chunks moved.
	DoneBefore int64 `json:"done_before,omitempty"`
	// Chunk numbers the chunks of the slice (0 first).
	Chunk int `json:"chunk,omitempty"`
}

// catchupWindow is the schedule's catch-up window the runs were started with.
func (in PipelineInput) catchupWindow() time.Duration {
	if in.CatchupWindow > 0 {
		return in.CatchupWindow
	}
	return 2 * in.Interval
}

// backfillSlice tells a backfilled run from an ordinary one. The rule: a run
// the schedule started (it carries TemporalScheduledStartTime, its nominal
// time) whose nominal time lies more than one catch-up window before its own
// start time is a backfill, since the schedule never starts an ordinary run
// that late (it drops it instead). Its slice is [nominal - interval, nominal).
// Runs continued as new (drains) are ordinary; continued backfill chunks
// carry their slice in the input. Without an interval in the input (runs of
// a schedule made before backfills existed) every run is ordinary.
func backfillSlice(ctx workflow.Context, in PipelineInput) (BackfillSlice, bool) {
	if in.Backfill != nil {
		return *in.Backfill, true
	}
	info := workflow.GetInfo(ctx)
	if in.Interval <= 0 || in.Draining || info.ContinuedExecutionRunID != "" {
		return BackfillSlice{}, false
	}
	nominal, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledKey)
	if !ok || nominal.IsZero() {
		return BackfillSlice{}, false
	}
	if !nominal.Before(info.WorkflowStartTime.Add(-in.catchupWindow())) {
		return BackfillSlice{}, false
	}
	nominal = nominal.UTC()
	return BackfillSlice{From: nominal.Add(-in.Interval), To: nominal}, true
}

// markBackfill makes a backfill run visible in the Temporal UI: the
// OrderflowMode search attribute (when the namespace has it), a memo and
// the current details naming the slice.
func markBackfill(ctx workflow.Context, in PipelineInput, s BackfillSlice) {
	text := fmt.Sprintf("backfill of shard %d/%d: records of [%s, %s)", in.Shard, max(in.Shards, 1),
		s.From.Format(time.RFC3339Nano), s.To.Format(time.RFC3339Nano))
	if s.Chunk > 0 {
		text += fmt.Sprintf(", chunk %d", s.Chunk+1)
	}
	workflow.SetCurrentDetails(ctx, text)
	log := workflow.GetLogger(ctx)
	if err := workflow.UpsertMemo(ctx, map[string]any{
		"mode": ModeBackfill, "slice_from": s.From, "slice_to": s.To, "summary": text,
	}); err != nil {
		log.Warn("could not set the backfill memo", "error", err)
	}
	if in.ModeAttribute {
		if err := workflow.UpsertTypedSearchAttributes(ctx, modeKey.ValueSet(ModeBackfill)); err != nil {
			log.Warn("could not set the OrderflowMode search attribute", "error", err)
		}
	}
}

// backfill re-loads the records of the run's time slice through every
// layer: FetchSlice → EnrichViaRedis → LoadStg → LoadDdsVault → EmitCounters
// → UpsertCdm (with the safety net) → FinishSlice. It never reads or commits
// the group's offsets. A slice of more records than a drain batch goes in
// chunks, each a run of its own (continue-as-new carrying the slice and the
// next offsets).
func backfill(ctx workflow.Context, in PipelineInput, s BackfillSlice) (res PipelineResult, err error) {
	var a *activities.Activities
	info := workflow.GetInfo(ctx)
	batch := activities.BatchRef{
		BatchID: info.WorkflowExecution.RunID,
		Shard:   in.Shard,
		Shards:  max(in.Shards, 1),
		LoadDT:  workflow.Now(ctx).UTC().Truncate(time.Microsecond),
	}
	res.BatchID, res.Mode, res.SliceFrom, res.SliceTo = batch.BatchID, ModeBackfill, s.From, s.To
	markBackfill(ctx, in, s)
	p := newPlan(ctx, in)
	step := activities.FetchSliceName
	defer func() {
		if err != nil && !workflow.IsContinueAsNewError(err) {
			p.recordFailure(ctx, batch, step, err)
			// Best effort: a failed backfill leaves no working rows behind.
			_ = workflow.ExecuteActivity(p.stg, a.FinishSlice, activities.BatchInput{Batch: batch}).Get(ctx, nil)
		}
	}()
	limit := max(in.DrainBatchSize, in.BatchSize, 1)
	var got activities.FetchSliceResult
	fetchIn := activities.FetchSliceInput{Batch: batch, From: s.From, To: s.To, Next: s.Next, End: s.End, Limit: limit}
	if err := workflow.ExecuteActivity(p.stg, a.FetchSlice, fetchIn).Get(ctx, &got); err != nil {
		return res, err
	}
	res.Ranges, res.Records, res.Backlog = got.Ranges, got.Records, got.Remaining
	if got.Records > 0 {
		if step, err = p.load(ctx, in, batch, got.Records, &res); err != nil {
			return res, err
		}
		step = activities.FinishSliceName
		if err := workflow.ExecuteActivity(p.stg, a.FinishSlice, activities.BatchInput{Batch: batch}).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	if got.Records > 0 && got.Remaining > 0 {
		next := in
		s.Next, s.End = got.Next, got.End
		s.DoneBefore += int64(got.Records)
		s.Chunk++
		next.Backfill = &s
		res.Continued = true
		return res, workflow.NewContinueAsNewError(ctx, Pipeline, next)
	}
	return res, nil
}
