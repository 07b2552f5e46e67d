package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/orderflow/orderflow/internal/faults"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/starter"
)

// slowStep is the activity the graceful-stop test slows down, and by how much.
const (
	slowStep  = "LoadDdsVault"
	slowDelay = 8 * time.Second
)

// TestWorkerStopIsGraceful sends SIGTERM to a worker process while an
// activity runs (slowed by ORDERFLOW_FAULT_SLOW): the worker answers 503 on
// /readyz, stops polling, lets the activity finish and exits 0 within
// WORKER_STOP_TIMEOUT; the activity completed on its first attempt, and a
// new worker finishes the batch with the marts equal to the oracle.
func TestWorkerStopIsGraceful(t *testing.T) {
	cfg := faultConfig(t, 1)
	cfg.Pipeline.BatchSize, cfg.Pipeline.DrainBatchSize = 1000, 1000 // one batch
	cfg.Temporal.WorkerStopTimeout = 20 * time.Second
	s := observer(t, cfg)
	_, msgs, want := generate(t, s, 200)

	w := startWorker(t, cfg, faults.EnvSlow+"="+slowStep+":"+slowDelay.String())
	s.schedule(t)
	run := waitActivityStarted(t, s, slowStep, 90*time.Second)
	t.Logf("%s started in %s (attempt %d); sending SIGTERM", slowStep, run.wfID, run.attempt)
	if run.attempt != 1 {
		t.Fatalf("%s is on attempt %d before the stop, want 1", slowStep, run.attempt)
	}

	sent := time.Now()
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// While it drains the worker is alive and not ready.
	if code, body := readyzUntilExit(cfg.HealthAddr, w); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopping") {
		t.Errorf("/readyz while the worker drains: %d %q, want 503 not ready: stopping", code, body)
	}
	limit := cfg.Temporal.WorkerStopTimeout + 5*time.Second
	select {
	case <-w.Done():
	case <-time.After(limit):
		t.Fatalf("the worker did not exit within %s of SIGTERM (WORKER_STOP_TIMEOUT %s)", limit, cfg.Temporal.WorkerStopTimeout)
	}
	took := time.Since(sent)
	if code := w.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the worker exited with %v after SIGTERM, want status 0", w.Cmd.ProcessState)
	}
	t.Logf("the worker exited 0 %s after SIGTERM", took.Round(10*time.Millisecond))

	// The stopping worker finished the activity and reported it.
	ev := waitActivityOutcome(t, s, run, 10*time.Second)
	if ev.outcome != enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED || ev.attempt != 1 {
		t.Errorf("%s ended with %v on attempt %d, want ActivityTaskCompleted on attempt 1", slowStep, ev.outcome, ev.attempt)
	}

	startWorker(t, cfg)
	s.waitDrained(t, 2*time.Minute)
	checkWarehouse(t, s, msgs, want)
	checkNoBatchLeftOpen(t, s)
}

// TestWorkerStopTimeoutZeroCancels is the control: with WORKER_STOP_TIMEOUT=0
// the same SIGTERM cancels the running activity at once, so its first
// attempt does not complete (it is retried). It shows the graceful test
// above depends on WorkerStopTimeout.
func TestWorkerStopTimeoutZeroCancels(t *testing.T) {
	cfg := faultConfig(t, 1)
	cfg.Pipeline.BatchSize, cfg.Pipeline.DrainBatchSize = 1000, 1000
	cfg.Temporal.WorkerStopTimeout = 0
	s := observer(t, cfg)
	generate(t, s, 200)

	w := startWorker(t, cfg, faults.EnvSlow+"="+slowStep+":"+slowDelay.String())
	s.schedule(t)
	run := waitActivityStarted(t, s, slowStep, 90*time.Second)
	t.Cleanup(func() {
		_ = s.tc.TerminateWorkflow(context.Background(), run.wfID, "", "test over")
	})
	sent := time.Now()
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not exit within 10 s of SIGTERM")
	}
	if code := w.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the worker exited with %v after SIGTERM, want status 0", w.Cmd.ProcessState)
	}
	if took := time.Since(sent); took >= slowDelay {
		t.Errorf("the worker took %s to exit, as long as the slow activity: it was not cancelled", took)
	}

	// Attempt 1 was cancelled: the activity is pending again on a later
	// attempt (after the worker's failure report or the heartbeat timeout),
	// and the history holds no completion.
	deadline := time.Now().Add(15 * time.Second)
	for {
		pa := pendingActivity(t, s, run.wfID, slowStep)
		if pa != nil && (pa.GetAttempt() > 1 || pa.GetLastFailure() != nil) {
			t.Logf("%s after the stop: attempt %d, last failure %q", slowStep, pa.GetAttempt(), pa.GetLastFailure().GetMessage())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still on attempt 1 without a failure 15 s after the stop: %v", slowStep, pa)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ev := activityOutcome(t, s, run); ev.outcome == enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
		t.Errorf("%s completed (attempt %d) although the worker stopped with WORKER_STOP_TIMEOUT=0", slowStep, ev.attempt)
	}
}

// activityRun names a Pipeline run and the attempt of its activity seen running.
type activityRun struct {
	wfID, runID string
	attempt     int32
}

// waitActivityStarted waits until a run of the schedule has the activity
// running on a worker.
func waitActivityStarted(t *testing.T, s *stack, name string, timeout time.Duration) activityRun {
	t.Helper()
	ctx := context.Background()
	h := s.tc.ScheduleClient().GetHandle(ctx, starter.ScheduleID(s.cfg, 0))
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		d, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, wf := range d.Info.RunningWorkflows {
			d, err := s.tc.DescribeWorkflow(ctx, wf.WorkflowID, "")
			if err != nil {
				continue
			}
			resp := d.RawResponse
			for _, pa := range resp.GetPendingActivities() {
				if pa.GetActivityType().GetName() == name && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
					return activityRun{wfID: wf.WorkflowID, runID: resp.GetWorkflowExecutionInfo().GetExecution().GetRunId(), attempt: pa.GetAttempt()}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not start within %s", name, timeout)
	return activityRun{}
}

// pendingActivity returns the workflow's pending activity of that type, or nil.
func pendingActivity(t *testing.T, s *stack, wfID, name string) *workflowpb.PendingActivityInfo {
	t.Helper()
	d, err := s.tc.DescribeWorkflow(context.Background(), wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	resp := d.RawResponse
	for _, pa := range resp.GetPendingActivities() {
		if pa.GetActivityType().GetName() == name {
			return pa
		}
	}
	return nil
}

// outcome is how the slow activity ended in the run's history: the closing
// event's type (unspecified while it has none) and the attempt that ended it.
type outcome struct {
	outcome enumspb.EventType
	attempt int32
}

// activityOutcome reads the run's history for the slow activity; it fails
// the test when the activity closed more than once.
func activityOutcome(t *testing.T, s *stack, run activityRun) outcome {
	t.Helper()
	it := s.tc.GetWorkflowHistory(context.Background(), run.wfID, run.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	var out outcome
	closed := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == slowStep {
				scheduled[ev.GetEventId()] = true
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if a := ev.GetActivityTaskStartedEventAttributes(); scheduled[a.GetScheduledEventId()] {
				out.attempt = a.GetAttempt()
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			if scheduled[closedScheduledID(ev)] {
				out.outcome = ev.GetEventType()
				closed++
			}
		}
	}
	if len(scheduled) != 1 || closed > 1 {
		t.Errorf("%s was scheduled %d time(s) and closed %d time(s) in run %s, want once each at most", slowStep, len(scheduled), closed, run.runID)
	}
	return out
}

// closedScheduledID is the id of the scheduled event an activity task's
// closing event (completed, failed, timed out or canceled) refers to; 0 for
// any other event.
func closedScheduledID(ev *historypb.HistoryEvent) int64 {
	for _, a := range []interface{ GetScheduledEventId() int64 }{
		ev.GetActivityTaskCompletedEventAttributes(), ev.GetActivityTaskFailedEventAttributes(),
		ev.GetActivityTaskTimedOutEventAttributes(), ev.GetActivityTaskCanceledEventAttributes(),
	} {
		if id := a.GetScheduledEventId(); id != 0 {
			return id
		}
	}
	return 0
}

// waitActivityOutcome waits until the slow activity has a closing event.
func waitActivityOutcome(t *testing.T, s *stack, run activityRun, timeout time.Duration) outcome {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := activityOutcome(t, s, run)
		if out.outcome != enumspb.EVENT_TYPE_UNSPECIFIED || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readyzUntilExit asks the worker's /readyz until it answers 503 or the
// worker exits, and returns the last answer (0 when none came).
func readyzUntilExit(addr string, w *testenv.WorkerProc) (int, string) {
	cl := &http.Client{Timeout: 2 * time.Second}
	code, body := 0, ""
	for {
		select {
		case <-w.Done():
			return code, body
		default:
		}
		resp, err := cl.Get(fmt.Sprintf("http://%s/readyz", addr))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, body = resp.StatusCode, string(b)
			if code == http.StatusServiceUnavailable {
				return code, body
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
