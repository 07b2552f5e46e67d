package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// drainNs is -n: the orders of history of each drain run.
var drainNs = ints{10000, 50000, 200000}

// The targets of issue 4 that drains measure.
const (
	targetDrain50kS     = 20.0
	targetDrain50kAimS  = 10.0
	targetDrainRSSMiB   = 300.0
	targetFlatMaxGrowth = 1.25
)

func init() {
	register(scenario{name: "drain", order: 10,
		flags: func(fs *flag.FlagSet) { fs.Var(&drainNs, "n", "orders of history per drain run") },
		quick: map[string]string{"n": "10000"},
		run: func(ctx context.Context, b *bench, r *Results) bool {
			for _, n := range drainNs {
				if ctx.Err() == nil {
					r.Drain = append(r.Drain, b.runDrain(ctx, defaultSpec(n)))
				}
			}
			return measured(r.Drain)
		},
		tables:  func(r Results) []table { return append(drainTables(r), limitsTables(r)...) },
		targets: func(r Results) []Target { return append(drainTargets(r), limitsTargets(r)...) },
		check:   drainProblems,
	})
}

// drainSpec is what one drain run varies.
type drainSpec struct{ Orders, BatchSize, DrainBatchSize, Shards, Partitions int }

// productDefaults are BATCH_SIZE and DRAIN_BATCH_SIZE as an empty environment sets them.
func productDefaults() (batch, drain int) {
	c, _ := config.Load(func(string) (string, bool) { return "", false })
	return c.Pipeline.BatchSize, c.Pipeline.DrainBatchSize
}

// defaultSpec is a drain of n orders with the product's defaults, so the
// headline numbers are what a user gets.
func defaultSpec(n int) drainSpec {
	batch, drain := productDefaults()
	return drainSpec{Orders: n, BatchSize: batch, DrainBatchSize: drain, Shards: 1, Partitions: 1}
}

// DrainResult is one drain: Orders orders of history waiting in Kafka,
// drained from one trigger of the schedule until the lag is 0.
type DrainResult struct {
	Orders         int `json:"orders"`
	Records        int `json:"records"` // messages in the topic (orders, re-sends, status changes, bad ones)
	BatchSize      int `json:"batch_size"`
	DrainBatchSize int `json:"drain_batch_size"`
	Shards         int `json:"shards"`
	Partitions     int `json:"partitions"`
	// BackgroundBusy is the machine's busy share over 1 s before the
	// trigger, the stack idle: other work the run competed with.
	BackgroundBusy float64 `json:"background_busy"`
	ProduceS       float64 `json:"produce_s"` // producing the history (not in WallS)
	// WallS is trigger → lag 0 seen (polled every 100 ms).
	WallS            float64 `json:"wall_s"`
	OrdersPerS       float64 `json:"orders_per_s"`
	MsPer1kOrders    float64 `json:"ms_per_1k_orders"`
	FirstBatchAfterS float64 `json:"first_batch_after_s"` // trigger → the first batch's start
	Batches          int     `json:"batches"`

	CPU                   CPUUsage `json:"cpu"`
	WorkerCPUPer1kS       float64  `json:"worker_cpu_s_per_1k_orders"`
	WorkerPeakRSSMiB      float64  `json:"worker_peak_rss_mib"`
	WorkerPeakRSSPer1kMiB float64  `json:"worker_peak_rss_mib_per_1k_orders"`

	// Consistency compares the marts with the simulator's oracle.
	Consistency struct {
		OK     bool   `json:"ok"`
		Detail string `json:"detail,omitempty"` // what differs
	} `json:"consistency"`
	Breakdown Breakdown `json:"breakdown"`
	// LockHeldS is how long each lock every shard needs was held during the
	// drain (the worker's orderflow_shared_lock_held_seconds_total).
	LockHeldS map[string]float64 `json:"lock_held_s,omitempty"`
	// Floor is the floor experiment on this drain's rows (N=50,000 only).
	Floor *FloorResult `json:"floor,omitempty"`
	// Samples follow the drain every 2 s: records committed and CPU used so far.
	Samples []Sample `json:"samples,omitempty"`
	logged
	Error string `json:"error,omitempty"`
}

// isDefault reports whether a drain ran with the default batch sizes on one shard.
func (d DrainResult) isDefault() bool {
	batch, drain := productDefaults()
	return d.BatchSize == batch && d.DrainBatchSize == drain && d.Shards == 1 && d.Error == ""
}

// marts is the marts column of the tables.
func (d DrainResult) marts() string {
	return map[bool]string{true: "ok", false: "MISMATCH"}[d.Consistency.OK]
}

func measured(ds []DrainResult) bool {
	return slices.ContainsFunc(ds, func(d DrainResult) bool { return d.Error == "" })
}

// runDrain measures one drain, or returns the earlier measurement of the same spec.
func (b *bench) runDrain(ctx context.Context, spec drainSpec) DrainResult {
	if r, ok := b.drains[spec]; ok {
		return r
	}
	b.log.Info("drain: start", "spec", spec)
	r, err := b.measureDrain(ctx, spec)
	if b.ok(fmt.Sprint("drain ", spec), err, &r.Error) {
		b.log.Info("drain: done", "spec", spec, "wall_s", f(r.WallS, 2), "orders_per_s", f(r.OrdersPerS, 0), "batches", r.Batches, "marts", r.marts())
	}
	b.drains[spec] = r
	return r
}

// measureDrain loads spec.Orders orders of history into a fresh topic,
// starts the worker process and the schedule, triggers it and waits until
// the lag is 0; then it checks the marts and reads the runs' histories.
func (b *bench) measureDrain(ctx context.Context, spec drainSpec) (DrainResult, error) {
	r := DrainResult{Orders: spec.Orders, BatchSize: spec.BatchSize, DrainBatchSize: spec.DrainBatchSize, Shards: spec.Shards, Partitions: spec.Partitions}
	st, err := b.newStack(ctx, fmt.Sprintf("drain-%d-%d-%d", spec.Orders, spec.DrainBatchSize, spec.Shards), func(c *config.Config) {
		c.Pipeline.BatchSize, c.Pipeline.DrainBatchSize, c.Pipeline.Shards = spec.BatchSize, spec.DrainBatchSize, spec.Shards
		c.Kafka.Partitions = spec.Partitions
	})
	if err != nil {
		return r, err
	}
	defer st.close()
	w := simulator.NewWorld(simulator.Options{Seed: b.o.seed, End: time.Now().UTC()})
	msgs := w.History(spec.Orders)
	want := w.Expect(msgs)
	r.Records = len(msgs)
	if err := st.saveRefData(ctx, w); err != nil {
		return r, err
	}
	start := time.Now()
	if err := simulator.Produce(ctx, st.kcl, st.Config.Kafka.InputTopic, msgs, nil); err != nil {
		return r, err
	}
	r.ProduceS = time.Since(start).Seconds()
	if err := st.startWorker(ctx); err != nil {
		return r, err
	}
	r.BackgroundBusy = b.waitQuiet(ctx)
	s0 := st.snapshot(ctx)
	if err := starter.Trigger(ctx, b.tc, st.Config); err != nil {
		return r, err
	}
	stopSampling := st.sample(ctx, s0, int64(r.Records), &r.Samples)
	t1, err := st.waitLagZero(ctx, b.o.drainTimeout+time.Duration(spec.Orders)*2*time.Millisecond, func(lag int64) {
		b.log.Info("drain: waiting", "lag", lag, "elapsed", time.Since(s0.at).Round(time.Second))
	})
	s1 := st.snapshot(ctx)
	stopSampling()
	if err != nil {
		return r, err
	}
	if held, err := st.lockHeld(ctx); err == nil {
		r.LockHeldS = held
	} else {
		b.log.Warn("drain: read the shared locks' held time", "err", err)
	}
	r.CPU = usage(s0, s1)
	r.Samples = append(r.Samples, Sample{AtS: r.CPU.WindowS, Done: int64(r.Records), WorkerS: r.CPU.WorkerS, PostgresS: r.CPU.PostgresS, OtherS: r.CPU.OtherS})
	r.WallS = t1.Sub(s0.at).Seconds()
	r.OrdersPerS = float64(spec.Orders) / r.WallS
	r.MsPer1kOrders = r.WallS * 1e6 / float64(spec.Orders)
	r.WorkerCPUPer1kS = r.CPU.WorkerS * 1000 / float64(spec.Orders)
	r.WorkerPeakRSSMiB = float64(s1.workerPeakRSS) / mib
	r.WorkerPeakRSSPer1kMiB = r.WorkerPeakRSSMiB * 1000 / float64(spec.Orders)
	r.Consistency.Detail = st.checkMarts(ctx, want)
	r.Consistency.OK = r.Consistency.Detail == ""
	if r.isDefault() && spec.Orders == floorOrders {
		fl, err := measureFloor(ctx, st.pool, spec.Orders, r.WallS)
		if err != nil {
			return r, fmt.Errorf("floor experiment: %w", err)
		}
		r.Floor = &fl
	}
	batches, err := st.batches(ctx)
	if err != nil {
		return r, err
	}
	r.Batches = len(batches)
	for _, bt := range batches {
		if first := bt.Started.Sub(s0.at).Seconds(); r.FirstBatchAfterS == 0 || first < r.FirstBatchAfterS {
			r.FirstBatchAfterS = first
		}
	}
	runs, err := st.chainRuns(ctx)
	if err != nil {
		return r, fmt.Errorf("read run histories: %w", err)
	}
	runs, records := loaded(runs, batches)
	r.Breakdown = summarize(runs, records, true)
	r.logged = st.logged()
	return r, nil
}

// sample records every 2 s, until the returned stop is called, how many of
// total records are committed and the CPU used since s0.
func (st *stack) sample(ctx context.Context, s0 cpuSnapshot, total int64, out *[]Sample) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tick := time.NewTicker(2 * time.Second); ; {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			if lag, err := st.lag(ctx); err == nil {
				u := usage(s0, st.snapshot(ctx))
				*out = append(*out, Sample{AtS: u.WindowS, Done: total - lag, WorkerS: u.WorkerS, PostgresS: u.PostgresS, OtherS: u.OtherS})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// checkMarts compares the warehouse with the simulator's oracle: the number
// and sum of the nonzero counters of both marts, the orders in STG and the
// rejected messages. It returns what differs, "" when nothing does.
func (st *stack) checkMarts(ctx context.Context, want simulator.Expected) string {
	sum := func(m map[[2]string]int) (n int64) {
		for _, v := range m {
			n += int64(v)
		}
		return n
	}
	names := []string{"nonzero product counters", "product counter sum", "nonzero category counters", "category counter sum", "stg orders", "rejected messages"}
	wants := []int64{int64(len(want.UserProducts)), sum(want.UserProducts), int64(len(want.UserCategories)), sum(want.UserCategories), int64(want.Orders), int64(len(want.Rejected))}
	// The marts are final once the lag is 0 (offsets are committed after
	// UpsertCdm); look again for a few seconds before calling a mismatch.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		got := make([]int64, len(wants))
		var diff []string
		err := st.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FILTER (WHERE order_cnt <> 0) FROM cdm.user_product_counters),
			(SELECT coalesce(sum(order_cnt), 0) FROM cdm.user_product_counters),
			(SELECT count(*) FILTER (WHERE order_cnt <> 0) FROM cdm.user_category_counters),
			(SELECT coalesce(sum(order_cnt), 0) FROM cdm.user_category_counters),
			(SELECT count(*) FROM stg.order_events),
			(SELECT count(*) FROM stg.rejected_messages)`).Scan(&got[0], &got[1], &got[2], &got[3], &got[4], &got[5])
		for i := range got {
			if err == nil && got[i] != wants[i] {
				diff = append(diff, fmt.Sprintf("%s %d, want %d", names[i], got[i], wants[i]))
			}
		}
		if err != nil {
			diff = []string{"query failed: " + err.Error()}
		}
		if len(diff) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return strings.Join(diff, "; ")
		}
	}
}

// drainProblems lists failed drains, marts that disagree with the oracle,
// retried activities and worker errors of every scenario that drains.
func drainProblems(r Results) (p, w []string) {
	seen := map[string]bool{}
	for _, d := range slices.Concat(r.Drain, r.Sweep, r.Shards) {
		label := fmt.Sprintf("drain N=%d drain batch %d shards %d", d.Orders, d.DrainBatchSize, d.Shards)
		if seen[label] {
			continue
		}
		seen[label] = true
		pp, ww := trouble(label, d.Error, d.Breakdown.Retries, d.logged)
		if d.Error == "" && !d.Consistency.OK {
			pp = append(pp, label+": MARTS MISMATCH: "+d.Consistency.Detail)
		}
		p, w = append(p, pp...), append(w, ww...)
	}
	return p, w
}

// drainTargets are issue 4's goals a drain measures.
func drainTargets(r Results) []Target {
	var ok []DrainResult
	for _, d := range r.Drain {
		if d.isDefault() {
			ok = append(ok, d)
		}
	}
	slices.SortFunc(ok, func(a, b DrainResult) int { return a.Orders - b.Orders })
	var ts []Target
	name, goal := "50,000 orders end to end", fmt.Sprintf("≤ %.0f s (aim %.0f s)", targetDrain50kS, targetDrain50kAimS)
	if i := slices.IndexFunc(ok, func(d DrainResult) bool { return d.Orders == 50000 }); i >= 0 {
		t := target(name, goal, fmt.Sprintf("%.1f s", ok[i].WallS), ok[i].WallS <= targetDrain50kS)
		if ok[i].WallS <= targetDrain50kAimS {
			t.Result += " (aim met)"
		}
		ts = append(ts, t)
	} else {
		ts = append(ts, target(name, goal, "", false))
	}
	_, defDrain := productDefaults()
	name, goal = fmt.Sprintf("worker RSS while draining (drain batch %s)", thousands(defDrain)), fmt.Sprintf("≤ %.0f MiB", targetDrainRSSMiB)
	var peak DrainResult
	for _, d := range ok {
		if d.WorkerPeakRSSMiB > peak.WorkerPeakRSSMiB {
			peak = d
		}
	}
	if peak.Orders > 0 {
		ts = append(ts, target(name, goal, fmt.Sprintf("%.0f MiB (N=%s)", peak.WorkerPeakRSSMiB, thousands(peak.Orders)), peak.WorkerPeakRSSMiB <= targetDrainRSSMiB))
	} else {
		ts = append(ts, target(name, goal, "", false))
	}
	name, goal = "time per order flat across N", fmt.Sprintf("≤ %.2f× from smallest to largest N, and inside the largest drain", targetFlatMaxGrowth)
	if len(ok) < 2 {
		return append(ts, target(name, goal, "", false))
	}
	lo, hi := ok[0], ok[len(ok)-1]
	g := hi.MsPer1kOrders / lo.MsPer1kOrders
	measured := fmt.Sprintf("%.2f× (%s: %.0f ms/1k, %s: %.0f ms/1k)", g, thousands(lo.Orders), lo.MsPer1kOrders, thousands(hi.Orders), hi.MsPer1kOrders)
	pass := g <= targetFlatMaxGrowth
	if first, last, ok := quarterGrowth(hi, ""); ok {
		measured += fmt.Sprintf("; inside the %s drain %.2f× (last vs first quarter of its batches)", thousands(hi.Orders), last/first)
		pass = pass && last/first <= targetFlatMaxGrowth
	}
	return append(ts, target(name, goal, measured, pass))
}

// drainTables are the drain runs, their resources, each default run's
// activities and the growth inside the largest.
func drainTables(r Results) []table {
	if len(r.Drain) == 0 {
		return nil
	}
	batch, drain := productDefaults()
	t := table{title: fmt.Sprintf("Drain: N orders of history waiting, one trigger → lag 0 (defaults: BATCH_SIZE %s, DRAIN_BATCH_SIZE %s)", thousands(batch), thousands(drain)),
		head:  []string{"orders", "records", "wall s", "orders/s", "ms per 1k orders", "× smallest N", "batches", "first batch after s", "load (produce) s", "busy before", "marts"},
		notes: []string{"records: messages in the topic (orders, re-sends, status changes, bad messages); busy before: the machine's CPU busy over 1 s before the trigger with the stack idle (other work on a shared machine); marts: cdm counters and sums, stg orders and rejects equal the simulator's oracle."}}
	res := table{title: "Resources during the drain (CPU seconds over the wall time; 2 cores = 2 s per second)",
		head:  []string{"orders", "worker CPU s", "worker CPU s / 1k", "worker peak RSS MiB", "RSS MiB / 1k", "Postgres CPU s", "Temporal CPU s", "kfake+bench CPU s", "other processes CPU s", "machine busy"},
		notes: []string{"Postgres: the backends of the scenario's database; other processes: the rest of the machine's busy time (other work on a shared machine, PostgreSQL background writers, the kernel)."}}
	base := 0.0
	var ts []table
	var largest DrainResult
	for _, d := range r.Drain {
		if d.Error != "" {
			t.add(thousands(d.Orders), "FAILED", d.Error)
			continue
		}
		if base == 0 {
			base = d.MsPer1kOrders
		}
		t.add(thousands(d.Orders), thousands(d.Records), f(d.WallS, 1), f(d.OrdersPerS, 0), f(d.MsPer1kOrders, 0), f(d.MsPer1kOrders/base, 2),
			strconv.Itoa(d.Batches), f(d.FirstBatchAfterS, 2), f(d.ProduceS, 1), pct(d.BackgroundBusy), d.marts())
		c := d.CPU
		res.add(thousands(d.Orders), f(c.WorkerS, 1), f(d.WorkerCPUPer1kS, 3), f(d.WorkerPeakRSSMiB, 0), f(d.WorkerPeakRSSPer1kMiB, 2),
			f(c.PostgresS, 1), f(c.TemporalS, 1), f(c.BenchS, 1), f(c.OtherS, 1), pct(c.MachineBusy))
		if d.isDefault() {
			ts = append(ts, activityTable(d))
			if d.Orders > largest.Orders {
				largest = d
			}
		}
	}
	return append(append([]table{t, res}, ts...), growthTable(largest)...)
}

// activityTable is where one drain's time went, activity by activity.
func activityTable(d DrainResult) table {
	t := table{title: fmt.Sprintf("Per activity, N=%s, drain batch %s (from every run's history)", thousands(d.Orders), thousands(d.DrainBatchSize)),
		head: []string{"activity", "runs", "mean queue wait ms", "mean exec ms", "max exec ms", "total exec s", "exec ms per 1k records", "share of run wall"}}
	b := d.Breakdown
	for _, a := range b.Activities {
		t.add(a.Name, strconv.Itoa(a.Count), f(a.MeanQueueMs, 1), f(a.MeanExecMs, 1), f(a.MaxExecMs, 0), f(a.ExecS, 2), f(a.ExecMsPer1k, 1), pct(a.ShareOfWall))
	}
	t.add("orchestration", strconv.Itoa(b.Runs), "", "", "", f(b.OverheadS, 2), f(b.OverheadS*1e6/float64(b.Records), 1), pct(safeDiv(b.OverheadS, b.WallS)))
	perRun := func(s float64) float64 { return 1000 * safeDiv(s, float64(b.Runs)) }
	t.notes = []string{fmt.Sprintf("%d runs, %s records; run walls sum to %.2f s (+%.2f s between chained runs). Orchestration = run wall − activity executions = %.0f ms per batch: activity queue waits %.0f ms, workflow tasks %.0f ms, start delay %.0f ms (%d runs waited for Temporal's minimum interval between continue-as-new runs), the rest dispatch and history writes.",
		b.Runs, thousands(b.Records), b.WallS, b.ChainGapS, b.OverheadPerRunMs, perRun(b.QueueS), perRun(b.WorkflowTaskS), perRun(b.StartDelayS), b.DelayedRuns)}
	return t
}
