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
	env.RegisterWorkflowWithOptions(Pipeline, workflow.RegisterOptions{Name: "Pipeline"})
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
	// LoadDdsVault fails for good (a constraint violation: our bug).
	env.OnActivity(a.LoadDdsVault, mock.Anything, mock.Anything).Return(activities.LoadDdsResult{},
		temporal.NewNonRetryableApplicationError("boom", activities.ErrTypeIntegrity, nil))
	commits := 0
	env.OnActivity(a.CommitOffsets, mock.Anything, mock.Anything).Run(func(mock.Arguments) { commits++ }).Return(nil)

	env.ExecuteWorkflow(Pipeline, input())
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeIntegrity {
		t.Fatalf("workflow error %v, want the IntegrityViolation", err)
	}
	if commits != 0 {
		t.Fatalf("offsets committed %d times after a failed step", commits)
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
