package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/kafkaio"
)

// scheduledInput is what starter.Input gives a schedule of 25 s.
func scheduledInput() PipelineInput {
	in := input()
	in.Interval, in.CatchupWindow, in.ModeAttribute = 25*time.Second, 50*time.Second, true
	return in
}

func TestLateButWithinCatchupWindowIsOrdinary(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	start := time.Date(2026, 12, 3, 10, 0, 40, 0, time.UTC)
	env.SetStartTime(start)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledKey.ValueSet(start.Add(-40 * time.Second)))); err != nil {
		t.Fatal(err)
	}
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{}, nil)
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Pipeline, scheduledInput())
	var res PipelineResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeScheduled || !res.SliceFrom.IsZero() {
		t.Fatalf("result %+v, want an ordinary run", res)
	}
}

func TestBackfillRunReloadsItsSliceWithoutTouchingOffsets(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	nominal := start.Add(-time.Hour)
	env.SetStartTime(start)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledKey.ValueSet(nominal))); err != nil {
		t.Fatal(err)
	}
	var ran []string
	var fetchIn activities.FetchSliceInput
	env.OnActivity(a.FetchSlice, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		fetchIn = args.Get(1).(activities.FetchSliceInput)
		ran = append(ran, "FetchSlice")
	}).Return(activities.FetchSliceResult{Ranges: []kafkaio.Range{{Partition: 0, From: 5, To: 95}}, Records: 90,
		Next: map[int32]int64{0: 95}, End: map[int32]int64{0: 95}}, nil)
	mockBatch(env, &ran)
	env.OnActivity(a.FinishSlice, mock.Anything, mock.Anything).Run(func(mock.Arguments) { ran = append(ran, "FinishSlice") }).Return(nil)
	env.ExecuteWorkflow(Pipeline, scheduledInput())
	var res PipelineResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	want := []string{"FetchSlice", "EnrichViaRedis", "LoadStg", "LoadDdsVault", "EmitCounters", "UpsertCdm", "FinishSlice"}
	if len(ran) != len(want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	for i := range want {
		if ran[i] != want[i] {
			t.Fatalf("ran %v, want %v", ran, want)
		}
	}
	if !fetchIn.From.Equal(nominal.Add(-25*time.Second)) || !fetchIn.To.Equal(nominal) || fetchIn.Limit != 5000 {
		t.Fatalf("fetched %+v, want [nominal-25s, nominal) by 5000", fetchIn)
	}
	if res.Mode != ModeBackfill || !res.SliceTo.Equal(nominal) || res.Records != 90 {
		t.Fatalf("result %+v", res)
	}
	env.AssertNotCalled(t, "FetchBatch", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "CommitOffsets", mock.Anything, mock.Anything)
}

func TestBackfillSliceGoesInChunks(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	nominal := start.Add(-time.Hour)
	env.SetStartTime(start)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledKey.ValueSet(nominal))); err != nil {
		t.Fatal(err)
	}
	var ran []string
	env.OnActivity(a.FetchSlice, mock.Anything, mock.Anything).Return(activities.FetchSliceResult{Records: 5000, Remaining: 7,
		Next: map[int32]int64{0: 5000}, End: map[int32]int64{0: 5007}}, nil)
	mockBatch(env, &ran)
	env.OnActivity(a.FinishSlice, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Pipeline, scheduledInput())
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("error %v, want continue-as-new", err)
	}
	var next PipelineInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Backfill == nil || next.Backfill.Next[0] != 5000 || next.Backfill.End[0] != 5007 ||
		!next.Backfill.To.Equal(nominal) || next.Backfill.DoneBefore != 5000 {
		t.Fatalf("continued with %+v", next.Backfill)
	}
}

func TestRunOfOldScheduleIsOrdinary(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(scheduledKey.ValueSet(start.Add(-time.Hour)))); err != nil {
		t.Fatal(err)
	}
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{}, nil)
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Pipeline, input()) // no Interval: a schedule made before backfills existed
	var res PipelineResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Mode != ModeScheduled {
		t.Fatalf("mode %q", res.Mode)
	}
}
