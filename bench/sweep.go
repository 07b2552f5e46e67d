package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
)

// Flags of the sweep and the sharded run.
var (
	sweepSizes                = ints{1000, 5000, 10000, 20000}
	sweepN, shardsN           int
	shardsShards, shardsParts int
)

func init() {
	register(scenario{name: "sweep", order: 20,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&sweepSizes, "sweep", "DRAIN_BATCH_SIZE values of the sweep")
			fs.IntVar(&sweepN, "sweep-n", 50000, "orders of history for each sweep point")
		},
		quick: map[string]string{"sweep": "1000", "sweep-n": "10000"},
		run: func(ctx context.Context, b *bench, r *Results) bool {
			for _, size := range sweepSizes {
				if spec := defaultSpec(sweepN); ctx.Err() == nil {
					spec.DrainBatchSize = size
					r.Sweep = append(r.Sweep, b.runDrain(ctx, spec))
				}
			}
			return measured(r.Sweep)
		},
		tables: sweepTables,
	})
	register(scenario{name: "shards", order: 40,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&shardsN, "shards-n", 50000, "orders of history for the sharded run")
			fs.IntVar(&shardsShards, "shards", 2, "SHARDS of the sharded run")
			fs.IntVar(&shardsParts, "partitions", 4, "KAFKA_PARTITIONS of the sharded run")
		},
		quick: map[string]string{"shards-n": "10000"},
		run: func(ctx context.Context, b *bench, r *Results) bool {
			sharded := defaultSpec(shardsN)
			sharded.Shards, sharded.Partitions = shardsShards, shardsParts
			for _, spec := range []drainSpec{defaultSpec(shardsN), sharded} {
				if ctx.Err() == nil {
					r.Shards = append(r.Shards, b.runDrain(ctx, spec))
				}
			}
			return measured(r.Shards)
		},
		tables: shardsTables,
	})
}

func sweepTables(r Results) []table {
	if len(r.Sweep) == 0 {
		return nil
	}
	n := thousands(r.Sweep[0].Orders)
	t := table{title: "Drain batch size sweep, N=" + n,
		head:  []string{"drain batch", "batches", "wall s", "orders/s", "worker CPU s / 1k", "worker peak RSS MiB", "orchestration s", "orchestration ms / batch", "of which start delay s", "busy before", "marts"},
		notes: []string{"start delay: a run that continues-as-new less than 1 s after its predecessor started waits for the rest of that second (Temporal's history.continueAsNewMinInterval)."}}
	acts := table{title: fmt.Sprintf("Where the time goes, N=%s: seconds per activity, summed over every batch", n),
		head:  append(append([]string{"drain batch"}, activityOrder...), "orchestration", "run walls"),
		notes: []string{"execution = ActivityTaskStarted → Completed; orchestration = each run's wall time minus its activities' executions (queue waits, workflow tasks, dispatch)."}}
	for _, d := range r.Sweep {
		if d.Error != "" {
			t.add(thousands(d.DrainBatchSize), "FAILED", d.Error)
			continue
		}
		b := d.Breakdown
		t.add(thousands(d.DrainBatchSize), strconv.Itoa(d.Batches), f(d.WallS, 1), f(d.OrdersPerS, 0), f(d.WorkerCPUPer1kS, 3),
			f(d.WorkerPeakRSSMiB, 0), f(b.OverheadS, 2), f(b.OverheadPerRunMs, 0), f(b.StartDelayS, 2), pct(d.BackgroundBusy), d.marts())
		row := []string{thousands(d.DrainBatchSize)}
		for _, a := range activityOrder {
			row = append(row, f(b.Activity(a).ExecS, 2))
		}
		acts.add(append(row, f(b.OverheadS, 2), f(b.WallS, 2))...)
	}
	return []table{t, acts}
}

func shardsTables(r Results) []table {
	if len(r.Shards) == 0 {
		return nil
	}
	t := table{title: fmt.Sprintf("Sharding, N=%s (default batch sizes)", thousands(r.Shards[0].Orders)),
		head: []string{"shards", "partitions", "wall s", "orders/s", "batches", "worker CPU s", "worker peak RSS MiB", "Postgres CPU s", "Temporal CPU s", "other processes CPU s", "machine busy", "busy before", "marts"}}
	for _, d := range r.Shards {
		if d.Error != "" {
			t.add(strconv.Itoa(d.Shards), strconv.Itoa(d.Partitions), "FAILED", d.Error)
			continue
		}
		t.add(strconv.Itoa(d.Shards), strconv.Itoa(d.Partitions), f(d.WallS, 1), f(d.OrdersPerS, 0), strconv.Itoa(d.Batches), f(d.CPU.WorkerS, 1),
			f(d.WorkerPeakRSSMiB, 0), f(d.CPU.PostgresS, 1), f(d.CPU.TemporalS, 1), f(d.CPU.OtherS, 1), pct(d.CPU.MachineBusy), pct(d.BackgroundBusy), d.marts())
	}
	return []table{t}
}

// Sample is a drain's progress and the CPU used since the trigger, taken
// every 2 s while it runs.
type Sample struct {
	AtS       float64 `json:"at_s"`
	Done      int64   `json:"done"` // records committed
	WorkerS   float64 `json:"worker_s"`
	PostgresS float64 `json:"postgres_s"`
	OtherS    float64 `json:"other_s"`
}

// quarterGrowth is the time per 1,000 records of activity name ("" for the
// run's wall time) over the first and the last quarter of a drain's full
// batches; ok is false with fewer than 8 of them.
func quarterGrowth(d DrainResult, name string) (first, last float64, ok bool) {
	full := fullRuns(d)
	if len(full) < 8 {
		return 0, 0, false
	}
	per1k := func(rs []RunSummary) float64 {
		var ms float64
		var n int
		for _, r := range rs {
			ms, n = ms+r.ActivityMs[name], n+r.Records
			if name == "" {
				ms += r.WallMs
			}
		}
		return ms * 1000 / float64(n)
	}
	q := len(full) / 4
	return per1k(full[:q]), per1k(full[len(full)-q:]), true
}

// fullRuns are a drain's runs that fetched a whole drain batch, in chain order.
func fullRuns(d DrainResult) (full []RunSummary) {
	for _, r := range d.Breakdown.PerRun {
		if r.Records >= d.DrainBatchSize {
			full = append(full, r)
		}
	}
	return full
}

// cpuByQuarter is the CPU per 1,000 records of the worker, PostgreSQL and
// the other processes committed in the first quarter of total (from the
// trigger to the first sample at or past 25 %) and the last (from the last
// sample at or before 75 % to the end); ok is false with too few samples.
func cpuByQuarter(samples []Sample, total int64) (first, last [3]float64, ok bool) {
	a, b := -1, -1
	for i, s := range samples {
		if a < 0 && s.Done*4 >= total {
			a = i
		}
		if s.Done*4 <= 3*total {
			b = i
		}
	}
	if len(samples) < 4 || total <= 0 || a <= 0 || b < 0 || b >= len(samples)-1 || samples[a].Done == 0 || samples[len(samples)-1].Done <= samples[b].Done {
		return first, last, false
	}
	x, y, end := samples[a], samples[b], samples[len(samples)-1]
	first = [3]float64{x.WorkerS, x.PostgresS, x.OtherS}
	last = [3]float64{end.WorkerS - y.WorkerS, end.PostgresS - y.PostgresS, end.OtherS - y.OtherS}
	for i := range 3 {
		first[i] *= 1e6 / float64(x.Done)
		last[i] *= 1e6 / float64(end.Done-y.Done)
	}
	return first, last, true
}

// growthTable compares the first and the last quarter of a drain's batches:
// time per 1,000 records of each activity, the run and the CPU.
func growthTable(d DrainResult) []table {
	if _, _, ok := quarterGrowth(d, ""); !ok {
		return nil
	}
	t := table{title: fmt.Sprintf("Growth inside the N=%s drain: ms per 1k records, first vs last quarter of its full batches (%d batches each)", thousands(d.Orders), len(fullRuns(d))/4),
		head: []string{"activity", "first quarter", "last quarter", "last / first"}}
	row := func(name string, x, y float64) { t.add(name, f(x, 1), f(y, 1), f(safeDiv(y, x), 2)) }
	for _, a := range d.Breakdown.Activities {
		x, y, _ := quarterGrowth(d, a.Name)
		row(a.Name, x, y)
	}
	x, y, _ := quarterGrowth(d, "")
	row("run wall", x, y)
	if first, last, ok := cpuByQuarter(d.Samples, int64(d.Records)); ok {
		for i, name := range []string{"worker CPU", "Postgres CPU", "other processes CPU"} {
			row(name, first[i], last[i])
		}
		t.notes = []string{"CPU rows: CPU milliseconds per 1k records committed in the first and the last quarter of the drain's records (sampled every 2 s); " +
			"\"other processes\" is work elsewhere on the machine that competed with the drain and inflates the wall times above."}
	}
	return []table{t}
}
