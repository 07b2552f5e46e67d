package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/orderflow/orderflow/activities"
)

func newVerifyEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *activities.Activities) {
	t.Helper()
	env := newEnv(t)
	env.RegisterWorkflow(Verify)
	return env, nil
}

// TestVerifyReportsTheCheck: one RunVerify on the dds queue; its counts are
// the workflow's result, and mismatches do not fail the run.
func TestVerifyReportsTheCheck(t *testing.T) {
	env, _ := newVerifyEnv(t)
	var queue string
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		queue = info.TaskQueue
	})
	// By name, as the schedule starts it and the workflow calls RunVerify.
	env.OnActivity(activities.RunVerifyName, mock.Anything).Return(activities.VerifyResult{
		RunID: 7, Mismatches: 3, Differences: 2, Orphans: 1, InFlight: 4, RowsChecked: 12345, DurationMs: 1500,
	}, nil).Once()
	env.ExecuteWorkflow(VerifyName, VerifyInput{Queue: "q-dds"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res VerifyResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	want := VerifyResult{RunID: 7, Mismatches: 3, Differences: 2, Orphans: 1, InFlight: 4, RowsChecked: 12345, Duration: 1500 * time.Millisecond}
	if res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if queue != "q-dds" {
		t.Errorf("RunVerify ran on %q, want the dds queue", queue)
	}
	env.AssertExpectations(t)
}

// TestVerifyFailsWhenTheCheckCannot: a non-retryable error (a missing
// grant, a missing migration) fails the run at once.
func TestVerifyFailsWhenTheCheckCannot(t *testing.T) {
	env, a := newVerifyEnv(t)
	env.OnActivity(a.RunVerify, mock.Anything).Return(activities.VerifyResult{},
		temporal.NewNonRetryableApplicationError("permission denied for table user_product_counters", activities.ErrTypeBadSQL, nil)).Once()
	env.ExecuteWorkflow(Verify, VerifyInput{Queue: "q-dds"})
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != activities.ErrTypeBadSQL {
		t.Fatalf("workflow error %v, want the activity's %s", err, activities.ErrTypeBadSQL)
	}
	env.AssertExpectations(t)
}
