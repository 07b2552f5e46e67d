package main

import (
	"errors"
	"fmt"
	"github.com/orderflow/orderflow/config"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Results is everything one bench invocation measured; it is written to
// bench/results.json and every table is rendered from it.
type Results struct {
	Command   string        `json:"command"`
	Started   time.Time     `json:"started"`
	DurationS float64       `json:"duration_s"`
	Quick     bool          `json:"quick"`
	Machine   Machine       `json:"machine"`
	Drain     []DrainResult `json:"drain,omitempty"`
	Sweep     []DrainResult `json:"sweep,omitempty"`
	Steady    *SteadyResult `json:"steady,omitempty"`
	// Shards holds the one-shard baseline and the sharded run of the same N.
	Shards []DrainResult `json:"shards,omitempty"`
	// API is the read API under load and a drain next to it (issue 12).
	API     *APIResult `json:"api,omitempty"`
	Targets []Target   `json:"targets"`
	// Problems fail the bench (a scenario failed, marts disagree with the
	// oracle); Warnings do not (retried activities, errors the worker logged).
	Problems []string `json:"problems,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	LogDir   string   `json:"log_dir"`
}

// Machine describes where the numbers were measured.
type Machine struct {
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpu_model"`
	MemoryGiB   float64 `json:"memory_gib"`
	Kernel      string  `json:"kernel"`
	PostgreSQL  string  `json:"postgresql"`
	Redis       string  `json:"redis"`
	Go          string  `json:"go"`
	TemporalCLI string  `json:"temporal_cli"`
	Commit      string  `json:"commit"`
}

// DrainResult is one drain: spec.Orders orders of history waiting in Kafka,
// drained from one trigger of the schedule until the lag is 0.
type DrainResult struct {
	Orders         int `json:"orders"`
	Records        int `json:"records"` // messages in the topic (orders + re-sends, status changes, bad ones)
	BatchSize      int `json:"batch_size"`
	DrainBatchSize int `json:"drain_batch_size"`
	Shards         int `json:"shards"`
	Partitions     int `json:"partitions"`

	// BackgroundBusy is the machine's busy share over 1 s before the
	// trigger, the stack idle: other work the run competed with.
	BackgroundBusy float64 `json:"background_busy"`

	GenerateS float64 `json:"generate_s"` // the simulator building the history (not in WallS)
	ProduceS  float64 `json:"produce_s"`  // producing it to the broker (not in WallS)

	// WallS is the end-to-end time: trigger → lag 0 seen (polled every 100 ms).
	WallS         float64 `json:"wall_s"`
	OrdersPerS    float64 `json:"orders_per_s"`
	MsPer1kOrders float64 `json:"ms_per_1k_orders"`
	// FirstBatchAfterS is trigger → the first batch's row; PipelineS is the
	// first batch's start → the last batch's commit (stg.batches).
	FirstBatchAfterS float64 `json:"first_batch_after_s"`
	PipelineS        float64 `json:"pipeline_s"`
	Batches          int     `json:"batches"`

	CPU                   CPUUsage `json:"cpu"`
	WorkerCPUPer1kS       float64  `json:"worker_cpu_s_per_1k_orders"`
	WorkerPeakRSSMiB      float64  `json:"worker_peak_rss_mib"`
	WorkerPeakRSSPer1kMiB float64  `json:"worker_peak_rss_mib_per_1k_orders"`

	Consistency Consistency `json:"consistency"`
	Breakdown   Breakdown   `json:"breakdown"`
	// Samples follow the drain every 2 s: records committed and CPU used so far.
	Samples []Sample `json:"samples,omitempty"`

	WorkerWarnings  int      `json:"worker_warnings"`
	WorkerErrors    int      `json:"worker_errors"`
	WorkerLogSample []string `json:"worker_log_sample,omitempty"`
	WorkerLog       string   `json:"worker_log,omitempty"`
	Error           string   `json:"error,omitempty"`
}

// Consistency compares the warehouse with the simulator's oracle.
type Consistency struct {
	OK                   bool   `json:"ok"`
	ProductCounters      int    `json:"product_counters"`
	ProductCountersWant  int    `json:"product_counters_want"`
	ProductSum           int64  `json:"product_sum"`
	ProductSumWant       int64  `json:"product_sum_want"`
	CategoryCounters     int    `json:"category_counters"`
	CategoryCountersWant int    `json:"category_counters_want"`
	CategorySum          int64  `json:"category_sum"`
	CategorySumWant      int64  `json:"category_sum_want"`
	Orders               int    `json:"orders"`
	OrdersWant           int    `json:"orders_want"`
	Rejected             int    `json:"rejected"`
	RejectedWant         int    `json:"rejected_want"`
	Detail               string `json:"detail,omitempty"`
}

// diff lists what differs from the oracle; "" when nothing does.
func (c Consistency) diff() string {
	var d []string
	check := func(what string, got, want int64) {
		if got != want {
			d = append(d, fmt.Sprintf("%s %d, want %d", what, got, want))
		}
	}
	check("nonzero product counters", int64(c.ProductCounters), int64(c.ProductCountersWant))
	check("product counter sum", c.ProductSum, c.ProductSumWant)
	check("nonzero category counters", int64(c.CategoryCounters), int64(c.CategoryCountersWant))
	check("category counter sum", c.CategorySum, c.CategorySumWant)
	check("stg orders", int64(c.Orders), int64(c.OrdersWant))
	check("rejected messages", int64(c.Rejected), int64(c.RejectedWant))
	return strings.Join(d, "; ")
}

// verdict is the marts column of the tables.
func (c Consistency) verdict() string {
	switch {
	case c.OK:
		return "ok"
	case c.ProductCountersWant == 0 && c.Detail == "":
		return "-"
	}
	return "MISMATCH"
}

// Latency summarizes latencies in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	MinMs float64 `json:"min_ms"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// SteadyResult is the live stream: one order every EveryS seconds for
// ProduceForS seconds, with the schedule firing every IntervalS seconds.
type SteadyResult struct {
	IntervalS   float64 `json:"interval_s"`
	EveryS      float64 `json:"order_every_s"`
	ProduceForS float64 `json:"produce_for_s"`
	IdleWindowS float64 `json:"idle_window_s"`
	BatchSize   int     `json:"batch_size"`
	// BackgroundBusy is the machine's busy share over 1 s before the stream, the stack idle.
	BackgroundBusy float64 `json:"background_busy"`
	Orders         int     `json:"orders"`
	Records        int     `json:"records"`
	Unmatched      int     `json:"unmatched"` // orders not found in a committed batch

	// CommitLatency: produced → its batch committed (marts written, offsets
	// committed). DdsLatency: produced → its user's message on dds-service-orders.
	CommitLatency Latency `json:"commit_latency"`
	DdsLatency    Latency `json:"dds_latency"`

	Active         CPUUsage `json:"active"`
	ActiveCPUShare float64  `json:"active_worker_cpu_share"`
	Idle           CPUUsage `json:"idle"`
	IdleCPUShare   float64  `json:"idle_worker_cpu_share"`

	WorkerStartRSSMiB float64 `json:"worker_start_rss_mib"`
	WorkerPeakRSSMiB  float64 `json:"worker_peak_rss_mib"` // peak after start, during the stream and the idle window
	WorkerEndRSSMiB   float64 `json:"worker_end_rss_mib"`

	Breakdown     Breakdown `json:"breakdown"` // runs that moved a batch
	IdleRuns      int       `json:"idle_runs"`
	IdleRunMeanMs float64   `json:"idle_run_mean_ms"`

	WorkerWarnings  int      `json:"worker_warnings"`
	WorkerErrors    int      `json:"worker_errors"`
	WorkerLogSample []string `json:"worker_log_sample,omitempty"`
	WorkerLog       string   `json:"worker_log,omitempty"`
	Error           string   `json:"error,omitempty"`
}

// Target is one of the goals and how the bench did against it.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	// Result is pass, miss or "not measured".
	Result string `json:"result"`
}

// The targets of issue 4 (reported, never failing the bench).
const (
	targetDrain50kS     = 20.0
	targetDrain50kAimS  = 10.0
	targetSteadySlackS  = 2.0
	targetSteadyRSSMiB  = 100.0
	targetDrainRSSMiB   = 300.0
	targetFlatMaxGrowth = 1.25
)

// productDefaults are BATCH_SIZE and DRAIN_BATCH_SIZE as an empty environment sets them.
func productDefaults() (batch, drain int) {
	c, _ := config.Load(func(string) (string, bool) { return "", false })
	return c.Pipeline.BatchSize, c.Pipeline.DrainBatchSize
}

// isDefault reports whether a drain ran with the default batch sizes on one shard.
func (d DrainResult) isDefault() bool {
	batch, drain := productDefaults()
	return d.BatchSize == batch && d.DrainBatchSize == drain && d.Shards == 1 && d.Error == ""
}

// evaluateTargets compares the results with the goals.
func evaluateTargets(r Results) []Target {
	var ts []Target
	verdict := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "miss"
	}
	notMeasured := func(name, goal string) Target {
		return Target{Name: name, Goal: goal, Measured: "-", Result: "not measured"}
	}

	name, goal := "50,000 orders end to end", fmt.Sprintf("≤ %.0f s (aim %.0f s)", targetDrain50kS, targetDrain50kAimS)
	if d, ok := findDrain(r.Drain, 50000); ok {
		res := verdict(d.WallS <= targetDrain50kS)
		if d.WallS <= targetDrain50kAimS {
			res += " (aim met)"
		}
		ts = append(ts, Target{name, goal, fmt.Sprintf("%.1f s", d.WallS), res})
	} else {
		ts = append(ts, notMeasured(name, goal))
	}

	name = "steady-state p99, produced → marts"
	if s := r.Steady; s != nil && s.Error == "" && s.CommitLatency.Count > 0 {
		limit := s.IntervalS + targetSteadySlackS
		goal = fmt.Sprintf("≤ interval + %.0f s = %.0f s", targetSteadySlackS, limit)
		ts = append(ts, Target{name, goal, fmt.Sprintf("%.2f s", s.CommitLatency.P99Ms/1000), verdict(s.CommitLatency.P99Ms/1000 <= limit)})
	} else {
		ts = append(ts, notMeasured(name, fmt.Sprintf("≤ interval + %.0f s", targetSteadySlackS)))
	}

	name, goal = "worker RSS at default batch size", fmt.Sprintf("≤ %.0f MiB", targetSteadyRSSMiB)
	if s := r.Steady; s != nil && s.Error == "" {
		ts = append(ts, Target{name, goal, fmt.Sprintf("%.0f MiB", s.WorkerPeakRSSMiB), verdict(s.WorkerPeakRSSMiB <= targetSteadyRSSMiB)})
	} else {
		ts = append(ts, notMeasured(name, goal))
	}

	_, defDrain := productDefaults()
	name, goal = fmt.Sprintf("worker RSS while draining (drain batch %s)", thousands(defDrain)), fmt.Sprintf("≤ %.0f MiB", targetDrainRSSMiB)
	peak, at := 0.0, 0
	for _, d := range r.Drain {
		if d.isDefault() && d.WorkerPeakRSSMiB > peak {
			peak, at = d.WorkerPeakRSSMiB, d.Orders
		}
	}
	if at > 0 {
		ts = append(ts, Target{name, goal, fmt.Sprintf("%.0f MiB (N=%s)", peak, thousands(at)), verdict(peak <= targetDrainRSSMiB)})
	} else {
		ts = append(ts, notMeasured(name, goal))
	}

	name, goal = "time per order flat across N", fmt.Sprintf("≤ %.2f× from smallest to largest N, and inside the largest drain", targetFlatMaxGrowth)
	var ok []DrainResult
	for _, d := range r.Drain {
		if d.isDefault() {
			ok = append(ok, d)
		}
	}
	slices.SortFunc(ok, func(a, b DrainResult) int { return a.Orders - b.Orders })
	if len(ok) >= 2 {
		lo, hi := ok[0], ok[len(ok)-1]
		g := hi.MsPer1kOrders / lo.MsPer1kOrders
		measured := fmt.Sprintf("%.2f× (%s: %.0f ms/1k, %s: %.0f ms/1k)", g, thousands(lo.Orders), lo.MsPer1kOrders, thousands(hi.Orders), hi.MsPer1kOrders)
		pass := g <= targetFlatMaxGrowth
		if first, last, ok := quarterGrowth(hi, ""); ok {
			w := last / first
			measured += fmt.Sprintf("; inside the %s drain %.2f× (last vs first quarter of its batches)", thousands(hi.Orders), w)
			pass = pass && w <= targetFlatMaxGrowth
		}
		ts = append(ts, Target{name, goal, measured, verdict(pass)})
	} else {
		ts = append(ts, notMeasured(name, goal))
	}
	return append(ts, apiTargets(r.API)...)
}

// findDrain returns the default-sized one-shard drain of n orders.
func findDrain(ds []DrainResult, n int) (DrainResult, bool) {
	for _, d := range ds {
		if d.Orders == n && d.isDefault() {
			return d, true
		}
	}
	return DrainResult{}, false
}

// problems lists what must not go unnoticed: failed scenarios and marts
// that disagree with the oracle (problems), retried activities and worker
// errors (warnings).
func problems(r Results) (p, w []string) {
	all := slices.Concat(r.Drain, r.Sweep, r.Shards)
	seen := map[string]bool{}
	for _, d := range all {
		label := fmt.Sprintf("drain N=%d drain batch %d shards %d", d.Orders, d.DrainBatchSize, d.Shards)
		if seen[label] {
			continue
		}
		seen[label] = true
		if d.Error != "" {
			p = append(p, label+": FAILED: "+d.Error)
			continue
		}
		if !d.Consistency.OK {
			p = append(p, label+": MARTS MISMATCH: "+d.Consistency.Detail)
		}
		if d.Breakdown.Retries > 0 {
			w = append(w, fmt.Sprintf("%s: %d activity retries (see %s)", label, d.Breakdown.Retries, d.WorkerLog))
		}
		if d.WorkerErrors > 0 {
			w = append(w, fmt.Sprintf("%s: the worker logged %d errors, e.g. %s", label, d.WorkerErrors, strings.Join(d.WorkerLogSample, " | ")))
		}
	}
	if a := r.API; a != nil {
		if a.Error != "" {
			p = append(p, "api: FAILED: "+a.Error)
		}
		loads := slices.Clone(a.Endpoints)
		for _, d := range a.Drains {
			loads = append(loads, d.During)
		}
		for _, l := range loads {
			if l.Errors > 0 {
				w = append(w, fmt.Sprintf("api: %s: %d of %d requests failed, e.g. %s", l.Endpoint, l.Errors, l.Requests, l.FirstErr))
			}
		}
		if a.WorkerErrors > 0 {
			w = append(w, fmt.Sprintf("api: the worker logged %d errors (see %s)", a.WorkerErrors, a.WorkerLog))
		}
	}
	if s := r.Steady; s != nil {
		switch {
		case s.Error != "":
			p = append(p, "steady: FAILED: "+s.Error)
		case s.Unmatched > 0:
			p = append(p, fmt.Sprintf("steady: %d of %d orders not found in a committed batch", s.Unmatched, s.Orders))
		}
		if s.Breakdown.Retries > 0 {
			w = append(w, fmt.Sprintf("steady: %d activity retries (see %s)", s.Breakdown.Retries, s.WorkerLog))
		}
		if s.WorkerErrors > 0 {
			w = append(w, fmt.Sprintf("steady: the worker logged %d errors, e.g. %s", s.WorkerErrors, strings.Join(s.WorkerLogSample, " | ")))
		}
	}
	return p, w
}

// table is a titled grid of cells, rendered as aligned text or Markdown.
// The first column is left-aligned; the others are right-aligned when every
// cell in them is a number (a figure, a percentage, a ratio), else left-aligned.
type table struct {
	Title string
	Head  []string
	Rows  [][]string
	Notes []string
}

func (t *table) add(cells ...string) { t.Rows = append(t.Rows, cells) }

// rightAligned reports whether column i holds only numbers.
func (t table) rightAligned(i int) bool {
	if i == 0 {
		return false
	}
	for _, row := range t.Rows {
		if i < len(row) && !isNumber(row[i]) {
			return false
		}
	}
	return true
}

// isNumber accepts "", "-", "12,345", "-1.5", "99.9%", "1.06×".
func isNumber(s string) bool {
	s = strings.TrimRight(s, "%×")
	if s == "" || s == "-" {
		return true
	}
	_, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return err == nil
}

// Text renders the table for a terminal.
func (t table) Text() string { return t.render(false) }

// Markdown renders the table as a GitHub Markdown table under a bold title.
func (t table) Markdown() string { return t.render(true) }

// render writes the title, the head, a rule, the rows and the notes, as
// aligned text or as Markdown (md).
func (t table) render(md bool) string {
	width := make([]int, len(t.Head))
	for _, row := range append([][]string{t.Head}, t.Rows...) {
		for i := range min(len(row), len(width)) {
			width[i] = max(width[i], utf8.RuneCountInString(row[i]))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		cells := make([]string, len(width))
		for i := range cells {
			if i < len(row) {
				cells[i] = row[i]
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cells[i]))
			switch {
			case md:
				cells[i] = strings.ReplaceAll(cells[i], "|", `\|`)
			case t.rightAligned(i):
				cells[i] = pad + cells[i]
			default:
				cells[i] += pad
			}
		}
		if md {
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		} else {
			b.WriteString(strings.TrimRight("  "+strings.Join(cells, "  "), " ") + "\n")
		}
	}
	rule := make([]string, len(width))
	for i, w := range width {
		switch {
		case !md:
			rule[i] = strings.Repeat("-", w)
		case t.rightAligned(i):
			rule[i] = "---:"
		default:
			rule[i] = "---"
		}
	}
	switch {
	case t.Title == "":
	case md:
		b.WriteString("**" + t.Title + "**\n\n")
	default:
		b.WriteString(t.Title + "\n")
	}
	line(t.Head)
	if md {
		b.WriteString("|" + strings.Join(rule, "|") + "|\n")
	} else {
		b.WriteString("  " + strings.Join(rule, "  ") + "\n")
	}
	for _, row := range t.Rows {
		line(row)
	}
	for _, n := range t.Notes {
		if md {
			b.WriteString("\n" + n + "\n")
		} else {
			b.WriteString("  " + n + "\n")
		}
	}
	return b.String()
}

// tables renders every measured part of r.
func tables(r Results) []table {
	var ts []table
	if len(r.Drain) > 0 {
		ts = append(ts, drainTable(r.Drain), resourceTable(r.Drain))
	}
	for _, d := range r.Drain {
		if d.isDefault() {
			ts = append(ts, activityTable(fmt.Sprintf("Per activity, N=%s, drain batch %s (from every run's history)", thousands(d.Orders), thousands(d.DrainBatchSize)), d))
		}
	}
	if big, ok := largestDefault(r.Drain); ok {
		if g, ok := growthTable(big); ok {
			ts = append(ts, g)
		}
	}
	if len(r.Sweep) > 0 {
		ts = append(ts, sweepTable(r.Sweep), sweepActivityTable(r.Sweep))
	}
	if r.Steady != nil {
		ts = append(ts, steadyTable(*r.Steady))
	}
	if len(r.Shards) > 0 {
		ts = append(ts, shardsTable(r.Shards))
	}
	if r.API != nil {
		ts = append(ts, apiTables(*r.API)...)
	}
	ts = append(ts, targetTable(r.Targets))
	return ts
}

func drainTable(ds []DrainResult) table {
	t := table{
		Title: drainTitle(),
		Head:  []string{"orders", "records", "wall s", "orders/s", "ms per 1k orders", "× smallest N", "batches", "first batch after s", "load (produce) s", "busy before", "marts"},
	}
	base := 0.0
	for _, d := range ds {
		if d.Error != "" {
			t.add(thousands(d.Orders), "FAILED", d.Error)
			continue
		}
		if base == 0 {
			base = d.MsPer1kOrders
		}
		t.add(thousands(d.Orders), thousands(d.Records), f(d.WallS, 1), f(d.OrdersPerS, 0), f(d.MsPer1kOrders, 0),
			f(d.MsPer1kOrders/base, 2), strconv.Itoa(d.Batches), f(d.FirstBatchAfterS, 2), f(d.ProduceS, 1), pct(d.BackgroundBusy), d.Consistency.verdict())
	}
	t.Notes = []string{"records: messages in the topic (orders, re-sends, status changes, bad messages); busy before: the machine's CPU busy over 1 s before the trigger with the stack idle (other work on a shared machine); marts: cdm counters and sums, stg orders and rejects equal the simulator's oracle."}
	return t
}

func resourceTable(ds []DrainResult) table {
	t := table{
		Title: "Resources during the drain (CPU seconds over the wall time; 2 cores = 2 s per second)",
		Head:  []string{"orders", "worker CPU s", "worker CPU s / 1k", "worker peak RSS MiB", "RSS MiB / 1k", "Postgres CPU s", "Temporal CPU s", "kfake+bench CPU s", "other processes CPU s", "machine busy"},
	}
	for _, d := range ds {
		if d.Error != "" {
			continue
		}
		t.add(thousands(d.Orders), f(d.CPU.WorkerS, 1), f(d.WorkerCPUPer1kS, 3), f(d.WorkerPeakRSSMiB, 0), f(d.WorkerPeakRSSPer1kMiB, 2),
			f(d.CPU.PostgresS, 1), f(d.CPU.TemporalS, 1), f(d.CPU.BenchS, 1), f(d.CPU.OtherS, 1), pct(d.CPU.MachineBusy))
	}
	t.Notes = []string{"Postgres: the backends of the scenario's database; other processes: the rest of the machine's busy time (other work on a shared machine, PostgreSQL background writers, the kernel)."}
	return t
}

func activityTable(title string, d DrainResult) table {
	t := table{Title: title, Head: []string{"activity", "runs", "mean queue wait ms", "mean exec ms", "max exec ms", "total exec s", "exec ms per 1k records", "share of run wall"}}
	b := d.Breakdown
	for _, a := range b.Activities {
		t.add(a.Name, strconv.Itoa(a.Count), f(a.MeanQueueMs, 1), f(a.MeanExecMs, 1), f(a.MaxExecMs, 0), f(a.ExecS, 2), f(a.ExecMsPer1k, 1), pct(a.ShareOfWall))
	}
	t.add("orchestration", strconv.Itoa(b.Runs), "", "", "", f(b.OverheadS, 2), perK(b.OverheadS, b.Records), pct(safeDiv(b.OverheadS, b.WallS)))
	t.Notes = []string{fmt.Sprintf("%d runs, %s records; run walls sum to %.2f s (+%.2f s between chained runs). Orchestration = run wall − activity executions = %.0f ms per batch: activity queue waits %.0f ms, workflow tasks %.0f ms, start delay %.0f ms (%d runs waited for Temporal's minimum interval between continue-as-new runs), the rest dispatch and history writes.",
		b.Runs, thousands(b.Records), b.WallS, b.ChainGapS, b.OverheadPerRunMs, 1000*safeDiv(b.QueueS, float64(b.Runs)),
		1000*safeDiv(b.WorkflowTaskS, float64(b.Runs)), 1000*safeDiv(b.StartDelayS, float64(b.Runs)), b.DelayedRuns)}
	return t
}

// fullRuns are a drain's runs that fetched a whole drain batch, in chain order.
func fullRuns(d DrainResult) []RunSummary {
	var full []RunSummary
	for _, r := range d.Breakdown.PerRun {
		if r.Records >= d.DrainBatchSize {
			full = append(full, r)
		}
	}
	return full
}

// quarterGrowth is the time per 1,000 records of activity name ("" for the
// run's wall time) over the first and the last quarter of a drain's full
// batches; ok is false with fewer than 8 of them.
func quarterGrowth(d DrainResult, name string) (first, last float64, ok bool) {
	full := fullRuns(d)
	if len(full) < 8 {
		return 0, 0, false
	}
	q := len(full) / 4
	per1k := func(rs []RunSummary) float64 {
		var ms float64
		var n int
		for _, r := range rs {
			if name == "" {
				ms += r.WallMs
			} else {
				ms += r.ActivityMs[name]
			}
			n += r.Records
		}
		return ms * 1000 / float64(n)
	}
	return per1k(full[:q]), per1k(full[len(full)-q:]), true
}

// growthTable compares the first and the last quarter of a drain's batches:
// execution time per 1,000 records of each activity. A flat pipeline shows ratios near 1.
func growthTable(d DrainResult) (table, bool) {
	if _, _, ok := quarterGrowth(d, ""); !ok {
		return table{}, false
	}
	t := table{
		Title: fmt.Sprintf("Growth inside the N=%s drain: ms per 1k records, first vs last quarter of its full batches (%d batches each)", thousands(d.Orders), len(fullRuns(d))/4),
		Head:  []string{"activity", "first quarter", "last quarter", "last / first"},
	}
	for _, a := range d.Breakdown.Activities {
		x, y, _ := quarterGrowth(d, a.Name)
		t.add(a.Name, f(x, 1), f(y, 1), f(safeDiv(y, x), 2))
	}
	x, y, _ := quarterGrowth(d, "")
	t.add("run wall", f(x, 1), f(y, 1), f(safeDiv(y, x), 2))
	if q, ok := cpuByQuarter(d.Samples, int64(d.Records)); ok {
		t.add("worker CPU", f(q.FirstWorkerMs, 1), f(q.LastWorkerMs, 1), f(safeDiv(q.LastWorkerMs, q.FirstWorkerMs), 2))
		t.add("Postgres CPU", f(q.FirstPostgresMs, 1), f(q.LastPostgresMs, 1), f(safeDiv(q.LastPostgresMs, q.FirstPostgresMs), 2))
		t.add("other processes CPU", f(q.FirstOtherMs, 1), f(q.LastOtherMs, 1), f(safeDiv(q.LastOtherMs, q.FirstOtherMs), 2))
		t.Notes = append(t.Notes, "CPU rows: CPU milliseconds per 1k records committed in the first and the last quarter of the drain's records (sampled every 2 s); "+
			"\"other processes\" is work elsewhere on the machine that competed with the drain and inflates the wall times above.")
	}
	return t, true
}

func sweepTable(ds []DrainResult) table {
	t := table{
		Title: fmt.Sprintf("Drain batch size sweep, N=%s", thousands(ds[0].Orders)),
		Head:  []string{"drain batch", "batches", "wall s", "orders/s", "worker CPU s / 1k", "worker peak RSS MiB", "orchestration s", "orchestration ms / batch", "of which start delay s", "busy before", "marts"},
	}
	for _, d := range ds {
		if d.Error != "" {
			t.add(thousands(d.DrainBatchSize), "FAILED", d.Error)
			continue
		}
		t.add(thousands(d.DrainBatchSize), strconv.Itoa(d.Batches), f(d.WallS, 1), f(d.OrdersPerS, 0), f(d.WorkerCPUPer1kS, 3),
			f(d.WorkerPeakRSSMiB, 0), f(d.Breakdown.OverheadS, 2), f(d.Breakdown.OverheadPerRunMs, 0), f(d.Breakdown.StartDelayS, 2), pct(d.BackgroundBusy), d.Consistency.verdict())
	}
	t.Notes = []string{"start delay: a run that continues-as-new less than 1 s after its predecessor started waits for the rest of that second (Temporal's history.continueAsNewMinInterval)."}
	return t
}

func sweepActivityTable(ds []DrainResult) table {
	head := []string{"drain batch"}
	head = append(head, activityOrder...)
	head = append(head, "orchestration", "run walls")
	t := table{Title: fmt.Sprintf("Where the time goes, N=%s: seconds per activity, summed over every batch", thousands(ds[0].Orders)), Head: head}
	for _, d := range ds {
		if d.Error != "" {
			continue
		}
		row := []string{thousands(d.DrainBatchSize)}
		for _, a := range activityOrder {
			row = append(row, f(d.Breakdown.Activity(a).ExecS, 2))
		}
		row = append(row, f(d.Breakdown.OverheadS, 2), f(d.Breakdown.WallS, 2))
		t.add(row...)
	}
	t.Notes = []string{"execution = ActivityTaskStarted → Completed; orchestration = each run's wall time minus its activities' executions (queue waits, workflow tasks, dispatch)."}
	return t
}

func steadyTable(s SteadyResult) table {
	t := table{
		Title: fmt.Sprintf("Steady state: one order every %s s for %s s, SCHEDULE_INTERVAL %s s, BATCH_SIZE %d (production: 5/min, 25 s)",
			f(s.EveryS, 1), f(s.ProduceForS, 0), f(s.IntervalS, 0), s.BatchSize),
		Head: []string{"measure", "value"},
	}
	if s.Error != "" {
		t.add("FAILED", s.Error)
		return t
	}
	lat := func(l Latency) string {
		if l.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %s s, p90 %s s, p99 %s s, max %s s (n=%d)", f(l.P50Ms/1000, 2), f(l.P90Ms/1000, 2), f(l.P99Ms/1000, 2), f(l.MaxMs/1000, 2), l.Count)
	}
	b := s.Breakdown
	t.add("orders produced", fmt.Sprintf("%d (%d records)", s.Orders, s.Records))
	t.add("machine busy before (stack idle)", pct(s.BackgroundBusy))
	t.add("produced → batch committed (marts)", lat(s.CommitLatency))
	t.add("produced → dds-service-orders", lat(s.DdsLatency))
	t.add("batches with records", fmt.Sprintf("%d, mean run %s ms, orchestration %s ms per batch", b.Runs, f(safeDiv(b.WallS*1000, float64(b.Runs)), 0), f(b.OverheadPerRunMs, 0)))
	t.add("idle runs", fmt.Sprintf("%d, mean %s ms", s.IdleRuns, f(s.IdleRunMeanMs, 0)))
	t.add("worker CPU while streaming", fmt.Sprintf("%s of a core (%s s over %s s)", pct(s.ActiveCPUShare), f(s.Active.WorkerS, 2), f(s.Active.WindowS, 0)))
	t.add("worker CPU while idle", fmt.Sprintf("%s of a core (%s s over %s s)", pct(s.IdleCPUShare), f(s.Idle.WorkerS, 2), f(s.Idle.WindowS, 0)))
	t.add("Temporal CPU while idle", fmt.Sprintf("%s of a core", pct(safeDiv(s.Idle.TemporalS, s.Idle.WindowS))))
	t.add("worker RSS", fmt.Sprintf("%s MiB after start, peak %s MiB, %s MiB at the end", f(s.WorkerStartRSSMiB, 0), f(s.WorkerPeakRSSMiB, 0), f(s.WorkerEndRSSMiB, 0)))
	return t
}

func shardsTable(ds []DrainResult) table {
	t := table{
		Title: fmt.Sprintf("Sharding, N=%s (default batch sizes)", thousands(ds[0].Orders)),
		Head:  []string{"shards", "partitions", "wall s", "orders/s", "batches", "worker CPU s", "worker peak RSS MiB", "Postgres CPU s", "Temporal CPU s", "other processes CPU s", "machine busy", "busy before", "marts"},
	}
	for _, d := range ds {
		if d.Error != "" {
			t.add(strconv.Itoa(d.Shards), strconv.Itoa(d.Partitions), "FAILED", d.Error)
			continue
		}
		t.add(strconv.Itoa(d.Shards), strconv.Itoa(d.Partitions), f(d.WallS, 1), f(d.OrdersPerS, 0), strconv.Itoa(d.Batches), f(d.CPU.WorkerS, 1),
			f(d.WorkerPeakRSSMiB, 0), f(d.CPU.PostgresS, 1), f(d.CPU.TemporalS, 1), f(d.CPU.OtherS, 1), pct(d.CPU.MachineBusy), pct(d.BackgroundBusy), d.Consistency.verdict())
	}
	return t
}

func targetTable(ts []Target) table {
	t := table{Title: "Targets (reported, never failing the bench)", Head: []string{"target", "goal", "measured", "result"}}
	for _, x := range ts {
		t.add(x.Name, x.Goal, x.Measured, x.Result)
	}
	return t
}

// largestDefault is the default-sized one-shard drain with the most orders.
func largestDefault(ds []DrainResult) (DrainResult, bool) {
	var best DrainResult
	for _, d := range ds {
		if d.isDefault() && d.Orders > best.Orders {
			best = d
		}
	}
	return best, best.Orders > 0
}

// Text renders the whole report for a terminal.
func (r Results) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "orderflow bench, %s, %s s (%s)\n", r.Started.Format(time.RFC3339), f(r.DurationS, 0), r.Command)
	fmt.Fprintf(&b, "machine: %s\n\n", r.Machine.String())
	for _, t := range tables(r) {
		b.WriteString(t.Text() + "\n")
	}
	if len(r.Problems) > 0 {
		b.WriteString("!! PROBLEMS\n")
		for _, p := range r.Problems {
			b.WriteString("!!   " + p + "\n")
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("!! WARNINGS\n")
		for _, w := range r.Warnings {
			b.WriteString("!!   " + w + "\n")
		}
	}
	return b.String()
}

// Markdown renders the whole report, for docs/BENCHMARKS.md.
func (r Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Produced by `%s` on %s (%s s in all).\n\n", r.Command, r.Started.UTC().Format("2006-01-02 15:04 MST"), f(r.DurationS, 0))
	fmt.Fprintf(&b, "Machine: %s.\n\n", r.Machine.String())
	for _, t := range tables(r) {
		b.WriteString(t.Markdown() + "\n")
	}
	for _, l := range []struct {
		title string
		items []string
	}{{"Problems", r.Problems}, {"Warnings", r.Warnings}} {
		if len(l.items) == 0 {
			continue
		}
		b.WriteString("**" + l.title + "**\n\n")
		for _, p := range l.items {
			b.WriteString("- " + p + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %s GiB RAM, Linux %s, %s, Redis %s, %s, Temporal CLI %s, commit %s",
		m.CPUs, m.CPUModel, f(m.MemoryGiB, 1), m.Kernel, m.PostgreSQL, m.Redis, m.Go, m.TemporalCLI, m.Commit)
}

// Markers around the generated part of docs/BENCHMARKS.md.
const (
	docBegin = "<!-- bench:begin (generated by go run ./bench from bench/results.json; do not edit by hand) -->"
	docEnd   = "<!-- bench:end -->"
)

// updateDoc replaces the generated part of the Markdown file at path (between
// docBegin and docEnd) with block; a missing file is created with a title.
func updateDoc(path, block string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("# Benchmarks\n\n" + docBegin + "\n" + docEnd + "\n")
	} else if err != nil {
		return err
	}
	out, err := replaceBlock(string(old), block)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// replaceBlock puts block between the markers of doc.
func replaceBlock(doc, block string) (string, error) {
	i := strings.Index(doc, docBegin)
	j := strings.Index(doc, docEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q … %q block", docBegin, docEnd)
	}
	return doc[:i+len(docBegin)] + "\n\n" + strings.TrimSpace(block) + "\n\n" + doc[j:], nil
}

// f formats x with prec decimals; NaN and infinities as "-".
func f(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	if prec == 0 && math.Abs(x) >= 10000 {
		return thousands(int(math.Round(x)))
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// pct formats a share as a percentage.
func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return strconv.FormatFloat(100*x, 'f', 1, 64) + "%"
}

// perK formats seconds per 1,000 records as milliseconds.
func perK(s float64, records int) string {
	if records == 0 {
		return "-"
	}
	return f(s*1e6/float64(records), 1)
}

// thousands formats n with a comma every three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func round(x float64, prec int) float64 {
	p := math.Pow(10, float64(prec))
	return math.Round(x*p) / p
}

func drainTitle() string {
	batch, drain := productDefaults()
	return fmt.Sprintf("Drain: N orders of history waiting, one trigger → lag 0 (defaults: BATCH_SIZE %s, DRAIN_BATCH_SIZE %s)", thousands(batch), thousands(drain))
}
