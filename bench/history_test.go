package main

import (
	"math"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// events builds a history: each step is an event type at a millisecond
// offset from t0, with the attributes the parser reads.
type histBuilder struct {
	t0     time.Time
	events []*historypb.HistoryEvent
}

func (h *histBuilder) add(atMs int, typ enumspb.EventType, set func(*historypb.HistoryEvent)) int64 {
	ev := &historypb.HistoryEvent{
		EventId:   int64(len(h.events) + 1),
		EventTime: timestamppb.New(h.t0.Add(time.Duration(atMs) * time.Millisecond)),
		EventType: typ,
	}
	if set != nil {
		set(ev)
	}
	h.events = append(h.events, ev)
	return ev.EventId
}

// activity adds a workflow task and one activity: WFT scheduled at at,
// started +2, completed +5 (= activity scheduled), activity started after
// queue ms, completed after exec ms (attempt attempt).
func (h *histBuilder) activity(at int, name string, queue, exec int, attempt int32) int {
	wft := h.add(at, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, nil)
	h.add(at+2, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, nil)
	h.add(at+5, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
			WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{ScheduledEventId: wft}}
	})
	sched := h.add(at+5, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{ActivityType: &commonpb.ActivityType{Name: name}}}
	})
	started := h.add(at+5+queue, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: sched, Attempt: attempt}}
	})
	end := at + 5 + queue + exec
	h.add(end, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: sched, StartedEventId: started}}
	})
	return end
}

func TestParseRun(t *testing.T) {
	h := &histBuilder{t0: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	h.add(0, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil)
	// The first workflow task waits 800 ms (continue-as-new minimum interval).
	end := h.activity(800, "FetchBatch", 1, 100, 1)             // 805 → 806 → 906
	end = h.activity(end, "EnrichViaRedis", 4, 200, 3)          // 911 → 915 → 1115, third attempt
	end = h.activity(end, "CommitOffsets", 0, 10, 1)            // 1120 → 1120 → 1130
	h.add(end, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, nil) // the final workflow task
	h.add(end+10, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, func(ev *historypb.HistoryEvent) {
		ev.Attributes = &historypb.HistoryEvent_WorkflowExecutionContinuedAsNewEventAttributes{
			WorkflowExecutionContinuedAsNewEventAttributes: &historypb.WorkflowExecutionContinuedAsNewEventAttributes{NewExecutionRunId: "run-2"}}
	})

	r := parseRun("run-1", h.events)
	if r.NextRunID != "run-2" {
		t.Errorf("next %q, want run-2", r.NextRunID)
	}
	if r.Wall() != 1140*time.Millisecond {
		t.Errorf("Wall() = %s, want 1.14s", r.Wall())
	}
	if r.StartDelay != 800*time.Millisecond {
		t.Errorf("StartDelay = %s, want 800ms", r.StartDelay)
	}
	if len(r.Activities) != 3 {
		t.Fatalf("%d activities, want 3", len(r.Activities))
	}
	want := []struct {
		name        string
		queue, exec time.Duration
	}{{"FetchBatch", time.Millisecond, 100 * time.Millisecond}, {"EnrichViaRedis", 4 * time.Millisecond, 200 * time.Millisecond}, {"CommitOffsets", 0, 10 * time.Millisecond}}
	for i, w := range want {
		a := r.Activities[i]
		if a.Name != w.name || a.QueueWait() != w.queue || a.Exec() != w.exec {
			t.Errorf("activity %d = %s queue %s exec %s, want %s queue %s exec %s", i, a.Name, a.QueueWait(), a.Exec(), w.name, w.queue, w.exec)
		}
	}
	if r.WorkflowTasks != 15*time.Millisecond {
		t.Errorf("WorkflowTasks = %s, want 15ms (three completed tasks of 5 ms)", r.WorkflowTasks)
	}
	b := summarize([]RunTiming{r}, nil, false)
	if math.Abs(b.ExecS-0.31) > 1e-9 || math.Abs(b.QueueS-0.005) > 1e-9 || math.Abs(b.OverheadS-0.83) > 1e-9 || b.Retries != 2 {
		t.Errorf("exec %v queue %v overhead %v retries %d; want 0.31, 0.005, 0.83, 2", b.ExecS, b.QueueS, b.OverheadS, b.Retries)
	}
}

func TestParseRunStillOpen(t *testing.T) {
	h := &histBuilder{t0: time.Now()}
	h.add(0, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil)
	h.activity(1, "FetchBatch", 1, 5, 1)
	r := parseRun("run", h.events)
	if !r.End.IsZero() || r.Wall() != 0 || r.Activities[0].Exec() != 5*time.Millisecond {
		t.Errorf("open run: end %v wall %s", r.End, r.Wall())
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	act := func(name string, sched, start, end int) ActivityTiming {
		return ActivityTiming{Name: name, Scheduled: at(sched), Started: at(start), Closed: at(end), Attempt: 1}
	}
	runs := []RunTiming{
		{RunID: "a", Start: at(0), End: at(1000), NextRunID: "b", Activities: []ActivityTiming{
			act("LoadStg", 10, 20, 220), act("FetchBatch", 0, 0, 100), act("Custom", 300, 300, 400)}},
		{RunID: "b", Start: at(1000), End: at(3000), StartDelay: 500 * time.Millisecond, Activities: []ActivityTiming{
			act("FetchBatch", 1500, 1510, 1810), act("LoadStg", 1900, 1900, 2400)}},
	}
	b := summarize(runs, map[string]int{"a": 100, "b": 900}, true)
	if b.Runs != 2 || b.Records != 1000 || b.DelayedRuns != 1 || len(b.PerRun) != 2 {
		t.Fatalf("runs %d records %d delayed %d per-run %d", b.Runs, b.Records, b.DelayedRuns, len(b.PerRun))
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("WallS", b.WallS, 3)
	near("ExecS", b.ExecS, 1.2) // 0.4 s in run a, 0.8 s in run b
	near("OverheadS", b.OverheadS, 1.8)
	near("OverheadPerRunMs", b.OverheadPerRunMs, 900)
	near("QueueS", b.QueueS, 0.02)
	near("StartDelayS", b.StartDelayS, 0.5)
	near("ChainGapS", b.ChainGapS, 0)
	var names []string
	for _, a := range b.Activities {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "FetchBatch,LoadStg,Custom" {
		t.Errorf("activity order %s, want pipeline order then the rest", got)
	}
	f := b.Activity("FetchBatch")
	if f.Count != 2 {
		t.Errorf("FetchBatch count %d", f.Count)
	}
	near("FetchBatch ExecS", f.ExecS, 0.4)
	near("FetchBatch MeanExecMs", f.MeanExecMs, 200)
	near("FetchBatch MaxExecMs", f.MaxExecMs, 300)
	near("FetchBatch MeanQueueMs", f.MeanQueueMs, 5)
	near("FetchBatch ExecMsPer1k", f.ExecMsPer1k, 400) // 400 ms over 1,000 records
	near("FetchBatch ShareOfWall", f.ShareOfWall, 0.4/3)
	near("run b LoadStg ms", b.PerRun[1].ActivityMs["LoadStg"], 500)
	if b.Activity("Missing").Count != 0 {
		t.Error("an activity that never ran has a count")
	}
}
