package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
)

// Flags of the steady state.
var steadyInterval, steadyEvery, steadyFor, idleWindow time.Duration

// The targets of issue 4 that the steady state measures.
const (
	targetSteadySlackS = 2.0
	targetSteadyRSSMiB = 100.0
)

func init() {
	register(scenario{name: "steady", order: 30,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&steadyInterval, "steady-interval", 5*time.Second, "SCHEDULE_INTERVAL of the steady state")
			fs.DurationVar(&steadyEvery, "steady-every", time.Second, "one live order every this long")
			fs.DurationVar(&steadyFor, "steady-for", 90*time.Second, "how long live orders are produced")
			fs.DurationVar(&idleWindow, "idle-window", 30*time.Second, "window the idle worker's CPU is measured over")
		},
		quick:    map[string]string{"steady-for": "30s", "idle-window": "10s"},
		positive: []string{"steady-every", "steady-interval", "idle-window"},
		run: func(ctx context.Context, b *bench, r *Results) bool {
			r.Steady = &SteadyResult{}
			return b.ok("steady", b.measureSteady(ctx, r.Steady), &r.Steady.Error)
		},
		tables: steadyTables, targets: steadyTargets, check: steadyProblems,
	})
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
	CommitLatency     Latency   `json:"commit_latency"`
	DdsLatency        Latency   `json:"dds_latency"`
	Active            CPUUsage  `json:"active"`
	ActiveCPUShare    float64   `json:"active_worker_cpu_share"`
	Idle              CPUUsage  `json:"idle"`
	IdleCPUShare      float64   `json:"idle_worker_cpu_share"`
	WorkerStartRSSMiB float64   `json:"worker_start_rss_mib"`
	WorkerPeakRSSMiB  float64   `json:"worker_peak_rss_mib"` // after start, over the stream and the idle window
	WorkerEndRSSMiB   float64   `json:"worker_end_rss_mib"`
	Breakdown         Breakdown `json:"breakdown"` // runs that moved a batch
	IdleRuns          int       `json:"idle_runs"`
	IdleRunMeanMs     float64   `json:"idle_run_mean_ms"`
	logged
	Error string `json:"error,omitempty"`
}

// sentOrder is one live order the steady state produced.
type sentOrder struct {
	user      string
	partition int32
	offset    int64
	at        time.Time // just before producing
}

// measureSteady produces live orders with a short schedule interval, then
// measures each order's latency to its batch's commit and to its user's
// message on dds-service-orders, and the worker's CPU over an idle window.
func (b *bench) measureSteady(ctx context.Context, r *SteadyResult) error {
	b.log.Info("steady: start", "interval", steadyInterval, "every", steadyEvery, "for", steadyFor)
	*r = SteadyResult{IntervalS: steadyInterval.Seconds(), EveryS: steadyEvery.Seconds(), ProduceForS: steadyFor.Seconds(), IdleWindowS: idleWindow.Seconds()}
	st, err := b.newStack(ctx, "steady", func(c *config.Config) {
		c.Pipeline.ScheduleInterval = steadyInterval
		r.BatchSize = c.Pipeline.BatchSize
	})
	if err != nil {
		return err
	}
	defer st.close()
	w := simulator.NewWorld(simulator.Options{Seed: b.o.seed, End: time.Now().UTC()})
	if err := st.saveRefData(ctx, w); err != nil {
		return err
	}
	if err := st.startWorker(ctx); err != nil {
		return err
	}
	_, rss := procMem(st.worker.PID)
	r.WorkerStartRSSMiB = float64(rss) / mib
	dds := record(st.Config.Kafka, st.Config.Kafka.DdsTopic)
	defer dds()
	r.BackgroundBusy = b.waitQuiet(ctx)
	// VmHWM back to the current RSS (Linux 4.0+), so the peak is the stream's.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", st.worker.PID), []byte("5"), 0)
	s0 := st.snapshot(ctx)
	var sent []sentOrder
	tick := time.NewTicker(steadyEvery)
	defer tick.Stop()
	for end := time.Now().Add(steadyFor); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		msgs := w.Live(now)
		recs := make([]*kgo.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = &kgo.Record{Topic: st.Config.Kafka.InputTopic, Value: m.Value, Timestamp: m.Timestamp}
		}
		if err := st.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce a live order: %w", err)
		}
		var v struct {
			Payload struct{ User struct{ ID string } }
		}
		_ = json.Unmarshal(msgs[0].Value, &v)
		sent = append(sent, sentOrder{user: v.Payload.User.ID, partition: recs[0].Partition, offset: recs[0].Offset, at: now})
		r.Records += len(msgs)
	}
	r.Orders = len(sent)
	if _, err := st.waitLagZero(ctx, 3*steadyInterval+time.Minute, nil); err != nil {
		return err
	}
	s1 := st.snapshot(ctx)
	r.Active = usage(s0, s1)
	r.ActiveCPUShare = r.Active.WorkerS / r.Active.WindowS

	// Idle: the schedule keeps firing, every run finds nothing.
	time.Sleep(time.Second)
	i0 := st.snapshot(ctx)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-st.worker.Done():
		return fmt.Errorf("the worker exited during the idle window: %v", st.worker.Err())
	case <-time.After(idleWindow):
	}
	i1 := st.snapshot(ctx)
	r.Idle = usage(i0, i1)
	r.IdleCPUShare = r.Idle.WorkerS / r.Idle.WindowS
	r.WorkerPeakRSSMiB = float64(i1.workerPeakRSS) / mib
	_, rss = procMem(st.worker.PID)
	r.WorkerEndRSSMiB = float64(rss) / mib

	ddsRecs := dds()
	batches, err := st.batches(ctx)
	if err != nil {
		return err
	}
	var toCommit, toDds []float64
	for _, s := range sent {
		bt, ok := batchOf(batches, s.partition, s.offset)
		if !ok || bt.Committed == nil {
			r.Unmatched++
			continue
		}
		toCommit = append(toCommit, ms(bt.Committed.Sub(s.at)))
		var first time.Time // the user's first message after the batch started
		for _, rec := range ddsRecs {
			if string(rec.Key) == s.user && !rec.Timestamp.Before(bt.Started) && (first.IsZero() || rec.Timestamp.Before(first)) {
				first = rec.Timestamp
			}
		}
		if !first.IsZero() {
			toDds = append(toDds, ms(first.Sub(s.at)))
		}
	}
	r.CommitLatency, r.DdsLatency = latencies(toCommit), latencies(toDds)
	runs, err := st.listRuns(ctx)
	if err != nil {
		return fmt.Errorf("read run histories: %w", err)
	}
	loadedRuns, records := loaded(runs, batches)
	r.Breakdown = summarize(loadedRuns, records, false)
	var idleWall time.Duration
	for _, run := range runs {
		if _, ok := batches[run.RunID]; !ok && !run.End.IsZero() {
			r.IdleRuns++
			idleWall += run.Wall()
		}
	}
	r.IdleRunMeanMs = ms(idleWall) / float64(max(r.IdleRuns, 1))
	r.logged = st.logged()
	b.log.Info("steady: done", "orders", r.Orders, "p50_ms", f(r.CommitLatency.P50Ms, 0), "p99_ms", f(r.CommitLatency.P99Ms, 0), "idle_cpu", pct(r.IdleCPUShare))
	return nil
}

// batchOf finds the batch whose range holds the offset.
func batchOf(batches map[string]batchRow, partition int32, offset int64) (batchRow, bool) {
	for _, b := range batches {
		for _, rg := range b.Ranges {
			if rg.Partition == partition && offset >= rg.From && offset < rg.To {
				return b, true
			}
		}
	}
	return batchRow{}, false
}

// record consumes topic from its start until the returned stop is called
// (once or more), which returns every record read.
func record(cfg config.Kafka, topic string) (stop func() []*kgo.Record) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var recs []*kgo.Record
	go func() {
		defer close(done)
		opts, err := kafkaio.Options(cfg, nil, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			return
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return
		}
		defer cl.Close()
		for ctx.Err() == nil {
			recs = append(recs, cl.PollFetches(ctx).Records()...)
		}
	}()
	return func() []*kgo.Record { cancel(); <-done; return recs }
}

func steadyTables(r Results) []table {
	s := r.Steady
	if s == nil {
		return nil
	}
	t := table{title: fmt.Sprintf("Steady state: one order every %s s for %s s, SCHEDULE_INTERVAL %s s, BATCH_SIZE %d (production: 5/min, 25 s)",
		f(s.EveryS, 1), f(s.ProduceForS, 0), f(s.IntervalS, 0), s.BatchSize), head: []string{"measure", "value"}}
	if s.Error != "" {
		t.add("FAILED", s.Error)
		return []table{t}
	}
	lat := func(l Latency) string {
		if l.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %s s, p90 %s s, p99 %s s, max %s s (n=%d)", f(l.P50Ms/1000, 2), f(l.P90Ms/1000, 2), f(l.P99Ms/1000, 2), f(l.MaxMs/1000, 2), l.Count)
	}
	cpu := func(share float64, u CPUUsage) string {
		return fmt.Sprintf("%s of a core (%s s over %s s)", pct(share), f(u.WorkerS, 2), f(u.WindowS, 0))
	}
	b := s.Breakdown
	t.rows = [][]string{
		{"orders produced", fmt.Sprintf("%d (%d records)", s.Orders, s.Records)},
		{"machine busy before (stack idle)", pct(s.BackgroundBusy)},
		{"produced → batch committed (marts)", lat(s.CommitLatency)},
		{"produced → dds-service-orders", lat(s.DdsLatency)},
		{"batches with records", fmt.Sprintf("%d, mean run %s ms, orchestration %s ms per batch", b.Runs, f(safeDiv(b.WallS*1000, float64(b.Runs)), 0), f(b.OverheadPerRunMs, 0))},
		{"idle runs", fmt.Sprintf("%d, mean %s ms", s.IdleRuns, f(s.IdleRunMeanMs, 0))},
		{"worker CPU while streaming", cpu(s.ActiveCPUShare, s.Active)},
		{"worker CPU while idle", cpu(s.IdleCPUShare, s.Idle)},
		{"Temporal CPU while idle", pct(safeDiv(s.Idle.TemporalS, s.Idle.WindowS)) + " of a core"},
		{"worker RSS", fmt.Sprintf("%s MiB after start, peak %s MiB, %s MiB at the end", f(s.WorkerStartRSSMiB, 0), f(s.WorkerPeakRSSMiB, 0), f(s.WorkerEndRSSMiB, 0))},
	}
	return []table{t}
}

// steadyTargets are issue 4's goals of the live stream.
func steadyTargets(r Results) []Target {
	s := r.Steady
	ok := s != nil && s.Error == ""
	p99, rss, goal := "", "", fmt.Sprintf("≤ interval + %.0f s", targetSteadySlackS)
	if ok && s.CommitLatency.Count > 0 {
		p99, goal = fmt.Sprintf("%.2f s", s.CommitLatency.P99Ms/1000), fmt.Sprintf("%s = %.0f s", goal, s.IntervalS+targetSteadySlackS)
	}
	if ok {
		rss = fmt.Sprintf("%.0f MiB", s.WorkerPeakRSSMiB)
	}
	return []Target{
		target("steady-state p99, produced → marts", goal, p99, ok && s.CommitLatency.P99Ms/1000 <= s.IntervalS+targetSteadySlackS),
		target("worker RSS at default batch size", fmt.Sprintf("≤ %.0f MiB", targetSteadyRSSMiB), rss, ok && s.WorkerPeakRSSMiB <= targetSteadyRSSMiB),
	}
}

func steadyProblems(r Results) (p, w []string) {
	if s := r.Steady; s != nil {
		if p, w = trouble("steady", s.Error, s.Breakdown.Retries, s.logged); s.Error == "" && s.Unmatched > 0 {
			p = append(p, fmt.Sprintf("steady: %d of %d orders not found in a committed batch", s.Unmatched, s.Orders))
		}
	}
	return p, w
}
