package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time process pid has used, user plus system; with
// children it adds the CPU time of its children that have exited and been
// waited for (how PostgreSQL's finished backends are still counted).
func procCPU(pid int, children bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f, err := statFields(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// After the command: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime ...
	n := 2
	if children {
		n = 4
	}
	var ticks int64
	for _, s := range f[11 : 11+n] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// statFields splits a /proc/<pid>/stat line after the command (which may
// hold spaces and parentheses): field 0 is the state, field 1 the parent pid.
func statFields(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("%d fields after the command, want at least 15", len(f))
	}
	return f, nil
}

// procMem returns the peak (VmHWM) and current (VmRSS) resident set size of
// process pid in bytes.
func procMem(pid int) (peak, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatusMem(b)
}

// parseStatusMem reads VmHWM and VmRSS (in kB) from a /proc/<pid>/status file.
func parseStatusMem(b []byte) (peak, rss int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	found := 0
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("status line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if name == "VmHWM" {
			peak = kb << 10
		} else {
			rss = kb << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("VmHWM or VmRSS missing")
	}
	return peak, rss, nil
}

// resetPeakRSS sets process pid's VmHWM back to its current RSS, so a later
// VmHWM is the peak of what came after (Linux 4.0+, own processes only).
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// commCPU sums the CPU time (own and waited-for children's) of every process
// whose command name is comm: for PostgreSQL, the postmaster and its live
// backends, plus through the postmaster's children total every backend that
// has exited. Processes that vanish while being read are skipped.
func commCPU(comm string) time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var total time.Duration
	for _, d := range dirs {
		c, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if cpu, err := procCPU(pid, true); err == nil {
			total += cpu
		}
	}
	return total
}

// childPID returns the pid of a live child of process parent whose command
// name is comm, or 0.
func childPID(parent int, comm string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		c, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		f, err := statFields(b)
		if err != nil || f[1] != strconv.Itoa(parent) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		return pid
	}
	return 0
}

// machineCPU returns the busy and total CPU time of the whole machine (all
// cores) from /proc/stat; busy excludes idle and iowait.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var all, idle int64
	// user nice system idle iowait irq softirq steal (guest time is already in user)
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		all += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return time.Duration(all-idle) * clockTick, time.Duration(all) * clockTick, nil
}

// backgroundBusy measures, over window, the share of the machine's CPU
// that is busy while the bench's own stack idles: other work on a shared
// machine that the numbers of the following scenario compete with.
func backgroundBusy(window time.Duration) float64 {
	b0, a0, err0 := machineCPU()
	time.Sleep(window)
	b1, a1, err1 := machineCPU()
	if err0 != nil || err1 != nil || a1 <= a0 {
		return math.NaN()
	}
	return float64(b1-b0) / float64(a1-a0)
}

// cpuSnapshot is the CPU time used so far by each part of the stack.
type cpuSnapshot struct {
	at            time.Time
	worker        time.Duration         // the worker process (bin/orderflow worker)
	temporal      time.Duration         // the Temporal dev server
	bench         time.Duration         // this process: kfake broker, producer, polling
	postgres      map[int]time.Duration // the scenario database's backends, by pid
	redis         time.Duration         // redis-server
	machineBusy   time.Duration         // every core, busy
	machineAll    time.Duration         // every core, busy or idle
	workerPeakRSS int64
}

// takeSnapshot reads the CPU times of the worker (pid), the Temporal server
// (temporalPID, 0 if unknown), the PostgreSQL backends pgPIDs and the rest
// of the machine.
func takeSnapshot(pid, temporalPID int, pgPIDs []int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), postgres: map[int]time.Duration{}}
	s.worker, _ = procCPU(pid, true)
	if temporalPID > 0 {
		s.temporal, _ = procCPU(temporalPID, true)
	}
	s.bench, _ = procCPU(os.Getpid(), false)
	for _, p := range pgPIDs {
		if cpu, err := procCPU(p, false); err == nil {
			s.postgres[p] = cpu
		}
	}
	s.redis = commCPU("redis-server")
	s.machineBusy, s.machineAll, _ = machineCPU()
	s.workerPeakRSS, _, _ = procMem(pid)
	return s
}

// CPUUsage is the CPU time each part of the stack used over a window, in
// seconds, and the machine's utilisation (1.0 = every core busy).
type CPUUsage struct {
	WindowS   float64 `json:"window_s"`
	WorkerS   float64 `json:"worker_s"`
	TemporalS float64 `json:"temporal_s"`
	BenchS    float64 `json:"bench_kfake_s"`
	// PostgresS counts the backends connected to the scenario's database
	// (the worker's pool and the bench's), not PostgreSQL's background processes.
	PostgresS float64 `json:"postgres_s"`
	RedisS    float64 `json:"redis_s"`
	// OtherS is the machine's busy time not accounted for above: other
	// processes on a shared machine, PostgreSQL's background work, the kernel.
	OtherS      float64 `json:"other_s"`
	MachineBusy float64 `json:"machine_busy"`
}

// usage is the CPU used between two snapshots.
func usage(a, b cpuSnapshot) CPUUsage {
	u := CPUUsage{
		WindowS:   b.at.Sub(a.at).Seconds(),
		WorkerS:   (b.worker - a.worker).Seconds(),
		TemporalS: (b.temporal - a.temporal).Seconds(),
		BenchS:    (b.bench - a.bench).Seconds(),
		RedisS:    (b.redis - a.redis).Seconds(),
	}
	for pid, cpu := range b.postgres {
		u.PostgresS += (cpu - a.postgres[pid]).Seconds() // a backend new in the window started at 0
	}
	if all := b.machineAll - a.machineAll; all > 0 {
		u.MachineBusy = float64(b.machineBusy-a.machineBusy) / float64(all)
	}
	busy := (b.machineBusy - a.machineBusy).Seconds()
	u.OtherS = nonNegF(busy - u.WorkerS - u.TemporalS - u.BenchS - u.PostgresS - u.RedisS)
	return u
}

// percentile returns the p-th percentile (0-100) of xs by linear
// interpolation between the closest ranks; NaN for an empty slice.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	if p >= 100 {
		return s[len(s)-1]
	}
	r := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(r))
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (r-float64(lo))*(s[lo+1]-s[lo])
}

// Pipeline order of the activities; others sort after these by name.
var activityOrder = []string{"FetchBatch", "EnrichViaRedis", "LoadStg", "LoadDdsVault", "EmitCounters", "UpsertCdm", "CommitOffsets"}

// ActivityTiming is one activity of a run, read from the run's history.
type ActivityTiming struct {
	Name      string
	Scheduled time.Time // ActivityTaskScheduled
	Started   time.Time // ActivityTaskStarted (of the last attempt)
	Closed    time.Time // ActivityTaskCompleted, Failed, TimedOut or Canceled
	Attempt   int32     // 1 unless retried
	Outcome   string    // completed, failed, timed_out, canceled; "" while open
}

// QueueWait is how long the activity waited for a worker (Scheduled →
// Started; for a retried activity this includes the retry backoff).
func (a ActivityTiming) QueueWait() time.Duration { return nonNeg(a.Started.Sub(a.Scheduled)) }

// Exec is how long the worker ran the activity (Started → Closed).
func (a ActivityTiming) Exec() time.Duration { return nonNeg(a.Closed.Sub(a.Started)) }

// RunTiming is one workflow run (one batch) read from its history.
type RunTiming struct {
	WorkflowID string
	RunID      string
	Start      time.Time // WorkflowExecutionStarted
	End        time.Time // the closing event; zero while the run is open
	Status     string    // completed, continued_as_new, failed, timed_out, terminated, canceled
	NextRunID  string    // the run it continued as, if any
	Activities []ActivityTiming
	// WorkflowTasks is the time spent in workflow tasks (Scheduled →
	// Completed, the workflow code deciding the next step), summed.
	WorkflowTasks time.Duration
	// StartDelay is WorkflowExecutionStarted → the first workflow task
	// scheduled: the server's FirstWorkflowTaskBackoff, which after a
	// continue-as-new fills up a run shorter than
	// history.continueAsNewMinInterval (1 s by default).
	StartDelay time.Duration
}

// Wall is the run's duration, Start → End.
func (r RunTiming) Wall() time.Duration { return nonNeg(r.End.Sub(r.Start)) }

// Exec sums the activities' execution times.
func (r RunTiming) Exec() time.Duration {
	var d time.Duration
	for _, a := range r.Activities {
		d += a.Exec()
	}
	return d
}

// QueueWait sums the activities' queue waits.
func (r RunTiming) QueueWait() time.Duration {
	var d time.Duration
	for _, a := range r.Activities {
		d += a.QueueWait()
	}
	return d
}

// Overhead is the run's wall time not spent executing activities: Temporal's
// orchestration (workflow tasks, task dispatch, history writes).
func (r RunTiming) Overhead() time.Duration { return nonNeg(r.Wall() - r.Exec()) }

// Retries counts activity attempts beyond the first.
func (r RunTiming) Retries() int {
	n := 0
	for _, a := range r.Activities {
		if a.Attempt > 1 {
			n += int(a.Attempt) - 1
		}
	}
	return n
}

func nonNeg(d time.Duration) time.Duration { return max(d, 0) }

// parseRun turns a run's history events into its timings.
func parseRun(workflowID, runID string, events []*historypb.HistoryEvent) RunTiming {
	r := RunTiming{WorkflowID: workflowID, RunID: runID}
	acts := map[int64]int{}      // scheduled event id → index in r.Activities
	wft := map[int64]time.Time{} // workflow task scheduled event id → time
	for _, ev := range events {
		t := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			r.Start = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			if len(wft) == 0 && !r.Start.IsZero() {
				r.StartDelay = nonNeg(t.Sub(r.Start))
			}
			wft[ev.GetEventId()] = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if s, ok := wft[ev.GetWorkflowTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				r.WorkflowTasks += nonNeg(t.Sub(s))
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			acts[ev.GetEventId()] = len(r.Activities)
			r.Activities = append(r.Activities, ActivityTiming{
				Name:      ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(),
				Scheduled: t,
				Attempt:   1,
			})
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := ev.GetActivityTaskStartedEventAttributes()
			if i, ok := acts[a.GetScheduledEventId()]; ok {
				r.Activities[i].Started = t
				r.Activities[i].Attempt = max(a.GetAttempt(), 1)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			closeActivity(&r, acts, ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId(), t, "completed")
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			closeActivity(&r, acts, ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId(), t, "failed")
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			closeActivity(&r, acts, ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId(), t, "timed_out")
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			closeActivity(&r, acts, ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId(), t, "canceled")
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			r.End, r.Status = t, "completed"
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			r.End, r.Status = t, "continued_as_new"
			r.NextRunID = ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			r.End, r.Status = t, "failed"
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
			r.End, r.Status = t, "timed_out"
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			r.End, r.Status = t, "terminated"
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
			r.End, r.Status = t, "canceled"
		}
	}
	return r
}

func closeActivity(r *RunTiming, acts map[int64]int, scheduled int64, t time.Time, outcome string) {
	i, ok := acts[scheduled]
	if !ok {
		return
	}
	a := &r.Activities[i]
	a.Closed, a.Outcome = t, outcome
	if a.Started.IsZero() {
		a.Started = t // cannot happen in a well-formed history; keeps Exec at 0
	}
}

// ActivityStat sums one activity type over the runs of a scenario.
type ActivityStat struct {
	Name        string  `json:"name"`
	Count       int     `json:"count"`
	ExecS       float64 `json:"exec_s"`        // total execution time
	QueueS      float64 `json:"queue_wait_s"`  // total Scheduled → Started
	MeanExecMs  float64 `json:"mean_exec_ms"`  // per execution
	MeanQueueMs float64 `json:"mean_queue_ms"` // per execution
	MaxExecMs   float64 `json:"max_exec_ms"`
	// ExecMsPer1k is the execution time per 1,000 records fetched.
	ExecMsPer1k float64 `json:"exec_ms_per_1k_records"`
	// ShareOfWall is ExecS over the runs' summed wall time.
	ShareOfWall float64 `json:"share_of_wall"`
}

// RunSummary is one run in results.json.
type RunSummary struct {
	RunID      string             `json:"run_id"`
	Records    int                `json:"records"`
	WallMs     float64            `json:"wall_ms"`
	StartDelay float64            `json:"start_delay_ms"`
	ExecMs     float64            `json:"exec_ms"`
	OverheadMs float64            `json:"overhead_ms"`
	ActivityMs map[string]float64 `json:"activity_ms"`
}

// Breakdown is where the time of a scenario's runs went.
type Breakdown struct {
	Runs    int `json:"runs"`
	Records int `json:"records"`
	// WallS sums the runs' wall times; ChainGapS sums the gaps between one
	// run's end and the next run's start within a continue-as-new chain.
	WallS     float64 `json:"wall_s"`
	ChainGapS float64 `json:"chain_gap_s"`
	ExecS     float64 `json:"exec_s"`
	QueueS    float64 `json:"queue_wait_s"`
	// WorkflowTaskS is the time in workflow tasks, Scheduled → Completed.
	WorkflowTaskS float64 `json:"workflow_task_s"`
	// StartDelayS sums the runs' waits for their first workflow task
	// (continue-as-new minimum interval); DelayedRuns counts runs that waited over 50 ms.
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
	byID := map[string]RunTiming{}
	for _, r := range runs {
		byID[r.RunID] = r
	}
	for _, r := range runs {
		b.Runs++
		b.Records += records[r.RunID]
		b.WallS += r.Wall().Seconds()
		b.ExecS += r.Exec().Seconds()
		b.QueueS += r.QueueWait().Seconds()
		b.WorkflowTaskS += r.WorkflowTasks.Seconds()
		b.StartDelayS += r.StartDelay.Seconds()
		if r.StartDelay > 50*time.Millisecond {
			b.DelayedRuns++
		}
		b.Retries += r.Retries()
		if next, ok := byID[r.NextRunID]; ok && !r.End.IsZero() {
			b.ChainGapS += nonNeg(next.Start.Sub(r.End)).Seconds()
		}
		rs := RunSummary{RunID: r.RunID, Records: records[r.RunID], WallMs: ms(r.Wall()), StartDelay: ms(r.StartDelay), ExecMs: ms(r.Exec()),
			OverheadMs: ms(r.Overhead()), ActivityMs: map[string]float64{}}
		for _, a := range r.Activities {
			s := stats[a.Name]
			if s == nil {
				s = &ActivityStat{Name: a.Name}
				stats[a.Name] = s
			}
			s.Count++
			s.ExecS += a.Exec().Seconds()
			s.QueueS += a.QueueWait().Seconds()
			s.MaxExecMs = max(s.MaxExecMs, ms(a.Exec()))
			rs.ActivityMs[a.Name] += ms(a.Exec())
		}
		if perRun {
			b.PerRun = append(b.PerRun, rs)
		}
	}
	b.OverheadS = nonNegF(b.WallS - b.ExecS)
	if b.Runs > 0 {
		b.OverheadPerRunMs = b.OverheadS * 1000 / float64(b.Runs)
	}
	for _, s := range stats {
		if s.Count > 0 {
			s.MeanExecMs = s.ExecS * 1000 / float64(s.Count)
			s.MeanQueueMs = s.QueueS * 1000 / float64(s.Count)
		}
		if b.Records > 0 {
			s.ExecMsPer1k = s.ExecS * 1000 / float64(b.Records) * 1000
		}
		if b.WallS > 0 {
			s.ShareOfWall = s.ExecS / b.WallS
		}
		b.Activities = append(b.Activities, *s)
	}
	slices.SortFunc(b.Activities, func(x, y ActivityStat) int {
		ix, iy := activityRank(x.Name), activityRank(y.Name)
		if ix != iy {
			return ix - iy
		}
		return strings.Compare(x.Name, y.Name)
	})
	return b
}

func activityRank(name string) int {
	if i := slices.Index(activityOrder, name); i >= 0 {
		return i
	}
	return len(activityOrder)
}

// Activity returns the stat of the named activity (zero if it never ran).
func (b Breakdown) Activity(name string) ActivityStat {
	for _, s := range b.Activities {
		if s.Name == name {
			return s
		}
	}
	return ActivityStat{Name: name}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func nonNegF(x float64) float64 { return math.Max(x, 0) }

// Sample is the drain's progress and the CPU used since the trigger, taken
// every few seconds while a drain runs.
type Sample struct {
	AtS       float64 `json:"at_s"`
	Done      int64   `json:"done"` // records committed
	WorkerS   float64 `json:"worker_s"`
	PostgresS float64 `json:"postgres_s"`
	OtherS    float64 `json:"other_s"`
}

// QuarterCPU is the CPU per 1,000 records over the first and the last
// quarter of a drain's records.
type QuarterCPU struct {
	FirstWorkerMs, LastWorkerMs     float64
	FirstPostgresMs, LastPostgresMs float64
	FirstOtherMs, LastOtherMs       float64
}

// cpuByQuarter compares the CPU per 1,000 records committed in the first
// quarter of total (from the trigger to the first sample at or past 25 %)
// with the last (from the last sample at or before 75 % to the end); ok is
// false when the samples are too few to tell the quarters apart.
func cpuByQuarter(samples []Sample, total int64) (q QuarterCPU, ok bool) {
	if len(samples) < 4 || total <= 0 {
		return q, false
	}
	end := samples[len(samples)-1]
	a, b := -1, -1
	for i, s := range samples {
		if a < 0 && s.Done*4 >= total {
			a = i
		}
		if s.Done*4 <= 3*total {
			b = i
		}
	}
	if a <= 0 || b < 0 || b >= len(samples)-1 || samples[a].Done == 0 || end.Done <= samples[b].Done {
		return q, false
	}
	first, last := samples[a], samples[b]
	perK := func(cpu float64, records int64) float64 { return cpu * 1e6 / float64(records) }
	q.FirstWorkerMs = perK(first.WorkerS, first.Done)
	q.FirstPostgresMs = perK(first.PostgresS, first.Done)
	q.FirstOtherMs = perK(first.OtherS, first.Done)
	n := end.Done - last.Done
	q.LastWorkerMs = perK(end.WorkerS-last.WorkerS, n)
	q.LastPostgresMs = perK(end.PostgresS-last.PostgresS, n)
	q.LastOtherMs = perK(end.OtherS-last.OtherS, n)
	return q, true
}
