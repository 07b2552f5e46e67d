package workflows

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/kafkaio"
)

var queues = Queues{Stg: "q-stg", Dds: "q-dds", Cdm: "q-cdm"}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	env.RegisterWorkflow(Pipeline)
	env.RegisterActivity(a)
	return env
}

func input() PipelineInput {
	return PipelineInput{Shard: 0, Shards: 1, BatchSize: 100, DrainBatchSize: 5000, Queues: queues}
}

// mockBatch makes every activity between FetchBatch and CommitOffsets
// succeed, except those named in skip, and records the order they ran in.
func mockBatch(env *testsuite.TestWorkflowEnvironment, ran *[]string, skip ...string) {
	var a *activities.Activities
	step := func(name string) func(mock.Arguments) { return func(mock.Arguments) { *ran = append(*ran, name) } }
	mocks := map[string]func(){
		"EnrichViaRedis": func() {
			env.OnActivity(a.EnrichViaRedis, mock.Anything, mock.Anything).Run(step("EnrichViaRedis")).Return(activities.EnrichResult{Orders: 90, Rejected: 10}, nil)
		},
		"LoadStg": func() {
			env.OnActivity(a.LoadStg, mock.Anything, mock.Anything).Run(step("LoadStg")).Return(activities.LoadStgResult{Upserted: 90, Produced: 90}, nil)
		},
		"LoadDdsVault": func() {
			env.OnActivity(a.LoadDdsVault, mock.Anything, mock.Anything).Run(step("LoadDdsVault")).Return(activities.LoadDdsResult{Orders: 90}, nil)
		},
		"EmitCounters": func() {
			env.OnActivity(a.EmitCounters, mock.Anything, mock.Anything).Run(step("EmitCounters")).Return(activities.EmitCountersResult{Users: 40}, nil)
		},
		"UpsertCdm": func() {
			env.OnActivity(a.UpsertCdm, mock.Anything, mock.Anything).Run(step("UpsertCdm")).Return(activities.UpsertCdmResult{}, nil)
		},
	}
	for name, m := range mocks {
		if !slices.Contains(skip, name) {
			m()
		}
	}
}

func TestPipelineRunsEveryStepThenCommits(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var ran []string
	var fetchIn activities.FetchBatchInput
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		fetchIn = args.Get(1).(activities.FetchBatchInput)
		ran = append(ran, "FetchBatch")
	}).Return(activities.FetchBatchResult{Ranges: []kafkaio.Range{{Partition: 0, From: 10, To: 110}}, Records: 100, Backlog: 0}, nil)
	mockBatch(env, &ran)
	var committed activities.CommitInput
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		committed = args.Get(1).(activities.CommitInput)
		ran = append(ran, "CommitOffsets")
	}).Return(nil)

	env.ExecuteWorkflow(Pipeline, input())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{"FetchBatch", "EnrichViaRedis", "LoadStg", "LoadDdsVault", "EmitCounters", "UpsertCdm", "CommitOffsets"}
	if len(ran) != len(want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	for i := range want {
		if ran[i] != want[i] {
			t.Fatalf("ran %v, want %v", ran, want)
		}
	}
	if fetchIn.Limit != 100 {
		t.Errorf("a scheduled run fetched %d records, want BATCH_SIZE 100", fetchIn.Limit)
	}
	if len(committed.Ranges) != 1 || committed.Ranges[0].To != 110 {
		t.Errorf("committed %+v, want the fetched range", committed.Ranges)
	}
	if committed.Batch.LoadDT.IsZero() || committed.Batch.BatchID == "" {
		t.Errorf("batch ref not set: %+v", committed.Batch)
	}
	var res PipelineResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Records != 100 || res.Enrich.Rejected != 10 || res.Continued {
		t.Errorf("result %+v", res)
	}
}

func TestPipelineCommitsNothingWhenAStepFails(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var ran []string
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{Ranges: []kafkaio.Range{{To: 5}}, Records: 5}, nil)
	mockBatch(env, &ran, "LoadDdsVault")
	// LoadDdsVault fails for good with an error no record causes (a table
	// is missing): no part of the batch is tried, nothing is committed, and
	// the failure is recorded for the stall alarms.
	env.OnActivity(a.LoadDdsVault, mock.Anything, mock.Anything).Return(activities.LoadDdsResult{},
		temporal.NewNonRetryableApplicationError("relation does not exist", activities.ErrTypeBadSQL, nil))
	commits, splits := 0, 0
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Run(func(mock.Arguments) { commits++ }).Return(nil)
	env.OnActivity(a.SplitBatch, mock.Anything, mock.Anything).Run(func(mock.Arguments) { splits++ }).Return(0, nil)
	var recorded activities.RecordFailureInput
	env.OnActivity(a.RecordFailure, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		recorded = args.Get(1).(activities.RecordFailureInput)
	}).Return(nil)

	env.ExecuteWorkflow(Pipeline, input())
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeBadSQL {
		t.Fatalf("workflow error %v, want the BadSQL error", err)
	}
	if commits != 0 || splits != 0 {
		t.Fatalf("after a fault that is not about records: %d commits, %d parts split off", commits, splits)
	}
	if recorded.Step != "LoadDdsVault" || recorded.ErrorType != activities.ErrTypeBadSQL {
		t.Errorf("recorded failure %+v, want LoadDdsVault BadSQL", recorded)
	}
}

// poisonMocks makes LoadDdsVault fail for good (IntegrityViolation) for the
// whole batch and for every part holding a record in bad; it returns the
// records StorePoison was asked to set aside and how often each activity ran.
func poisonMocks(env *testsuite.TestWorkflowEnvironment, n int, bad ...int) (poisoned *[]int, calls map[string]int) {
	var a *activities.Activities
	calls = map[string]int{}
	poisoned = new([]int)
	parts := map[string][2]int{} // part batch id -> [from, to)
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{Ranges: []kafkaio.Range{{To: int64(n)}}, Records: n}, nil)
	env.OnActivity(a.SplitBatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SplitInput) (int, error) {
		calls["SplitBatch"]++
		parts[in.Part.BatchID] = [2]int{in.From, in.To}
		return in.To - in.From, nil
	})
	holdsBad := func(id string) bool {
		r, ok := parts[id]
		if !ok {
			return true // the whole batch
		}
		for _, b := range bad {
			if b >= r[0] && b < r[1] {
				return true
			}
		}
		return false
	}
	env.OnActivity(a.EnrichViaRedis, mock.Anything, mock.Anything).Return(activities.EnrichResult{}, nil)
	env.OnActivity(a.LoadStg, mock.Anything, mock.Anything).Return(activities.LoadStgResult{}, nil)
	env.OnActivity(a.LoadDdsVault, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BatchInput) (activities.LoadDdsResult, error) {
		calls["LoadDdsVault"]++
		if holdsBad(in.Batch.BatchID) {
			return activities.LoadDdsResult{}, temporal.NewNonRetryableApplicationError("null value", activities.ErrTypeIntegrity, nil)
		}
		return activities.LoadDdsResult{}, nil
	})
	env.OnActivity(a.EmitCounters, mock.Anything, mock.Anything).Return(activities.EmitCountersResult{}, nil)
	env.OnActivity(a.UpsertCdm, mock.Anything, mock.Anything).Return(func(context.Context, activities.BatchInput) (activities.UpsertCdmResult, error) {
		calls["UpsertCdm"]++
		return activities.UpsertCdmResult{}, nil
	})
	env.OnActivity(a.StorePoison, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PoisonInput) (activities.PoisonRecord, error) {
		r := parts[in.Part.BatchID]
		*poisoned = append(*poisoned, r[0])
		if r[1]-r[0] != 1 || in.Step != "LoadDdsVault" || in.ErrorType != activities.ErrTypeIntegrity {
			panic("StorePoison got " + in.Part.BatchID + " " + in.Step + " " + in.ErrorType)
		}
		return activities.PoisonRecord{Offset: int64(r[0])}, nil
	})
	env.OnActivity(a.RetractPoison, mock.Anything, mock.Anything).Return(func(context.Context, activities.RetractInput) (activities.RetractResult, error) {
		calls["RetractPoison"]++
		return activities.RetractResult{}, nil
	})
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Return(func(context.Context, activities.CommitInput) error {
		calls["CommitOffsets"]++
		return nil
	})
	env.OnActivity(a.RecordFailure, mock.Anything, mock.Anything).Return(func(context.Context, activities.RecordFailureInput) error {
		calls["RecordFailure"]++
		return nil
	})
	return poisoned, calls
}

func TestPipelineSetsPoisonRecordsAside(t *testing.T) {
	env := newEnv(t)
	poisoned, calls := poisonMocks(env, 100, 37, 38, 90)
	env.ExecuteWorkflow(Pipeline, input())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	var res PipelineResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	slices.Sort(*poisoned)
	if !slices.Equal(*poisoned, []int{37, 38, 90}) || res.Poisoned != 3 {
		t.Fatalf("set aside %v (result says %d), want records 37, 38 and 90", *poisoned, res.Poisoned)
	}
	if calls["RetractPoison"] != 3 || calls["CommitOffsets"] != 1 || calls["RecordFailure"] != 0 {
		t.Errorf("calls %v: want 3 retractions, one commit, no recorded failure", calls)
	}
	// Halving: about 2·log2(100) parts per poison record, not one per record.
	if res.Parts > 40 || res.Parts != calls["SplitBatch"] {
		t.Errorf("%d parts (%d splits) to find 3 records among 100", res.Parts, calls["SplitBatch"])
	}
}

func TestPipelineStopsWhenEveryRecordLooksPoisoned(t *testing.T) {
	env := newEnv(t)
	all := make([]int, 50)
	for i := range all {
		all[i] = i
	}
	in := input()
	in.MaxPoison = 4
	poisoned, calls := poisonMocks(env, 50, all...)
	env.ExecuteWorkflow(Pipeline, in)
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != "TooManyPoisonRecords" {
		t.Fatalf("workflow error %v, want TooManyPoisonRecords", err)
	}
	if len(*poisoned) != 0 || calls["RetractPoison"] != 0 || calls["CommitOffsets"] != 0 || calls["RecordFailure"] != 1 {
		t.Errorf("set aside %d, calls %v: want nothing set aside, no commit, the failure recorded", len(*poisoned), calls)
	}
}

func TestPipelineRetriesTransientFailures(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var ran []string
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{Ranges: []kafkaio.Range{{To: 5}}, Records: 5}, nil)
	mockBatch(env, &ran, "UpsertCdm")
	attempts := 0
	env.OnActivity(a.UpsertCdm, mock.Anything, mock.Anything).Return(func(context.Context, activities.BatchInput) (activities.UpsertCdmResult, error) {
		attempts++
		if attempts < 3 {
			return activities.UpsertCdmResult{}, errors.New("connection refused")
		}
		return activities.UpsertCdmResult{ProductRows: 1}, nil
	})
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Pipeline, input())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 {
		t.Fatalf("UpsertCdm ran %d times, want 3 (two transient failures, then success)", attempts)
	}
}

func TestPipelineEmptyBatchOnlyRefreshesOffsets(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	idle := []kafkaio.Range{{Partition: 0, From: 42, To: 42}}
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{Ranges: idle}, nil)
	var committed []kafkaio.Range
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		committed = args.Get(1).(activities.CommitInput).Ranges
	}).Return(nil)
	// No load activity is mocked: calling one would fail the workflow.
	env.ExecuteWorkflow(Pipeline, input())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(committed) != 1 || committed[0].To != 42 {
		t.Fatalf("committed %+v, want the unchanged position 42", committed)
	}
}

func TestPipelineContinuesAsNewWhileABacklogWaits(t *testing.T) {
	tests := []struct {
		name    string
		records int
		backlog int64
		wantCAN bool
	}{
		{"full batch, more waiting", 100, 5000, true},
		{"full batch, nothing waiting", 100, 0, false},
		{"partial batch", 40, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			var a *activities.Activities
			var ran []string
			env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Return(activities.FetchBatchResult{Ranges: []kafkaio.Range{{To: int64(tt.records)}}, Records: tt.records, Backlog: tt.backlog}, nil)
			mockBatch(env, &ran)
			env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Return(nil)
			env.ExecuteWorkflow(Pipeline, input())
			err := env.GetWorkflowError()
			var can *workflow.ContinueAsNewError
			if got := errors.As(err, &can); got != tt.wantCAN {
				t.Fatalf("continued as new: %v (err %v), want %v", got, err, tt.wantCAN)
			}
			if tt.wantCAN {
				var next PipelineInput
				if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
					t.Fatal(err)
				}
				if !next.Draining || next.DrainedBefore != int64(tt.records) {
					t.Fatalf("next input %+v: want Draining and DrainedBefore %d", next, tt.records)
				}
			}
		})
	}
}

func TestDrainingRunUsesTheDrainBatchSize(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var limit int
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		limit = args.Get(1).(activities.FetchBatchInput).Limit
	}).Return(activities.FetchBatchResult{}, nil)
	in := input()
	in.Draining = true
	env.ExecuteWorkflow(Pipeline, in)
	if limit != 5000 {
		t.Fatalf("draining run fetched %d, want DRAIN_BATCH_SIZE 5000", limit)
	}
}

// A scheduled run that finds a backlog gets a drain-sized batch from
// FetchBatch and, if it is full, continues at once.
func TestScheduledRunThatFindsABacklogContinues(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var ran []string
	var fetchIn activities.FetchBatchInput
	env.OnActivity(a.FetchBatch, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		fetchIn = args.Get(1).(activities.FetchBatchInput)
	}).Return(activities.FetchBatchResult{Ranges: []kafkaio.Range{{To: 5000}}, Records: 5000, Limit: 5000, Backlog: 40000}, nil)
	mockBatch(env, &ran)
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Pipeline, input())
	if fetchIn.Limit != 100 || fetchIn.DrainLimit != 5000 {
		t.Fatalf("FetchBatch asked for %d (drain %d), want 100 and 5000", fetchIn.Limit, fetchIn.DrainLimit)
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("a full drain-sized batch with a backlog did not continue as new: %v", err)
	}
}
