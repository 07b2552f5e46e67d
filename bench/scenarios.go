package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

const mib = 1 << 20

// drainSpec is what one drain run varies.
type drainSpec struct {
	Orders         int
	BatchSize      int
	DrainBatchSize int
	Shards         int
	Partitions     int
}

func (d drainSpec) String() string {
	return fmt.Sprintf("N=%d batch=%d drain=%d shards=%d partitions=%d", d.Orders, d.BatchSize, d.DrainBatchSize, d.Shards, d.Partitions)
}

// bench runs scenarios on a suite and keeps the drain runs, so a sweep
// point equal to an earlier drain run is not measured twice.
type bench struct {
	s     *suite
	o     options
	drain map[drainSpec]DrainResult
}

// runDrain measures one drain, or returns the earlier measurement of the same spec.
func (b *bench) runDrain(ctx context.Context, spec drainSpec) DrainResult {
	if r, ok := b.drain[spec]; ok {
		return r
	}
	b.s.log.Info("drain: start", "spec", spec.String())
	r, err := b.measureDrain(ctx, spec)
	if err != nil {
		r.Error = err.Error()
		b.s.log.Error("drain failed", "spec", spec.String(), "err", err)
	} else {
		b.s.log.Info("drain: done", "spec", spec.String(), "wall_s", round(r.WallS, 2), "orders_per_s", round(r.OrdersPerS, 0),
			"batches", r.Batches, "marts", r.Consistency.verdict())
	}
	b.drain[spec] = r
	return r
}

// measureDrain loads spec.Orders orders of history into a fresh topic, then
// starts the worker process and the schedule, triggers it and waits until
// the lag is 0; then it checks the marts and reads the runs' histories.
func (b *bench) measureDrain(ctx context.Context, spec drainSpec) (DrainResult, error) {
	r := DrainResult{Orders: spec.Orders, BatchSize: spec.BatchSize, DrainBatchSize: spec.DrainBatchSize,
		Shards: spec.Shards, Partitions: spec.Partitions}
	name := fmt.Sprintf("drain-%d-%d-%d", spec.Orders, spec.DrainBatchSize, spec.Shards)
	st, err := b.s.newStack(ctx, name, func(c *config.Config) {
		c.Pipeline.BatchSize = spec.BatchSize
		c.Pipeline.DrainBatchSize = spec.DrainBatchSize
		c.Pipeline.Shards = spec.Shards
		c.Kafka.Partitions = spec.Partitions
	})
	if err != nil {
		return r, err
	}
	defer st.close()

	start := time.Now()
	w := simulator.NewWorld(simulator.Options{Seed: b.o.seed, End: time.Now().UTC()})
	msgs := w.History(spec.Orders)
	want := w.Expect(msgs)
	r.Records = len(msgs)
	r.GenerateS = time.Since(start).Seconds()
	if err := b.saveRefData(ctx, st, w); err != nil {
		return r, err
	}
	start = time.Now()
	if err := simulator.Produce(ctx, st.kcl, st.cfg.Kafka.InputTopic, msgs, nil); err != nil {
		return r, err
	}
	r.ProduceS = time.Since(start).Seconds()

	if err := st.startWorker(ctx); err != nil {
		return r, err
	}
	if _, err := starter.Ensure(ctx, b.s.tc, st.cfg); err != nil {
		return r, err
	}
	r.BackgroundBusy = b.waitQuiet(ctx)
	s0 := st.snapshot(ctx)
	if err := starter.Trigger(ctx, b.s.tc, st.cfg); err != nil {
		return r, err
	}
	stopSampling := b.sample(ctx, st, s0, int64(r.Records), &r.Samples)
	timeout := b.o.drainTimeout + time.Duration(spec.Orders)*2*time.Millisecond
	t1, err := st.waitLagZero(ctx, timeout, func(lag int64) {
		b.s.log.Info("drain: waiting", "lag", lag, "elapsed", time.Since(s0.at).Round(time.Second))
	})
	if err != nil {
		stopSampling()
		return r, err
	}
	s1 := st.snapshot(ctx)
	stopSampling()
	u := usage(s0, s1)
	r.Samples = append(r.Samples, Sample{AtS: u.WindowS, Done: int64(r.Records), WorkerS: u.WorkerS, PostgresS: u.PostgresS, OtherS: u.OtherS})
	r.WallS = t1.Sub(s0.at).Seconds()
	r.OrdersPerS = float64(spec.Orders) / r.WallS
	r.MsPer1kOrders = r.WallS * 1e6 / float64(spec.Orders)
	r.CPU = usage(s0, s1)
	r.WorkerCPUPer1kS = r.CPU.WorkerS * 1000 / float64(spec.Orders)
	r.WorkerPeakRSSMiB = float64(s1.workerPeakRSS) / mib
	r.WorkerPeakRSSPer1kMiB = r.WorkerPeakRSSMiB * 1000 / float64(spec.Orders)

	r.Consistency = st.checkMarts(ctx, want)
	batches, err := st.batches(ctx)
	if err != nil {
		return r, err
	}
	r.Batches = len(batches)
	if first, last, ok := batchSpan(batches); ok {
		r.FirstBatchAfterS = first.Sub(s0.at).Seconds()
		r.PipelineS = last.Sub(first).Seconds()
	}
	runs, err := st.chainRuns(ctx)
	if err != nil {
		return r, fmt.Errorf("read run histories: %w", err)
	}
	r.Breakdown = summarize(loadedRuns(runs, batches), fetchedByRun(batches), true)
	r.WorkerWarnings, r.WorkerErrors, r.WorkerLogSample = st.worker.LogCounts()
	r.WorkerLog = st.workerLog()
	return r, nil
}

// sampleEvery is how often a drain's progress and CPU are sampled.
const sampleEvery = 2 * time.Second

// sample records, every sampleEvery until the returned stop is called, how
// many of total records are committed and the CPU used since s0.
func (b *bench) sample(ctx context.Context, st *stack, s0 cpuSnapshot, total int64, out *[]Sample) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			lag, err := st.lag(ctx)
			if err != nil {
				continue
			}
			u := usage(s0, st.snapshot(ctx))
			*out = append(*out, Sample{AtS: u.WindowS, Done: total - lag, WorkerS: u.WorkerS, PostgresS: u.PostgresS, OtherS: u.OtherS})
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// waitQuiet measures how busy the machine is with the stack idle (1 s);
// with -quiet-wait it keeps measuring until the share drops below
// -quiet-below or the wait is over. It returns the last share measured.
func (b *bench) waitQuiet(ctx context.Context) float64 {
	deadline := time.Now().Add(b.o.quietWait)
	for {
		busy := backgroundBusy(time.Second)
		if busy < b.o.quietBelow || !time.Now().Before(deadline) || ctx.Err() != nil {
			return busy
		}
		b.s.log.Info("waiting for a quieter machine", "busy", pct(busy), "below", pct(b.o.quietBelow))
	}
}

// saveRefData writes the world's users and restaurants to Redis and
// remembers their keys for the clean-up.
func (b *bench) saveRefData(ctx context.Context, st *stack, w *simulator.World) error {
	for _, u := range w.Users {
		st.refKeys = append(st.refKeys, u.ID)
	}
	for _, r := range w.Restaurants {
		st.refKeys = append(st.refKeys, r.ID)
	}
	return w.SaveRefData(ctx, st.rdb)
}

// sentOrder is one live order the steady scenario produced.
type sentOrder struct {
	objectID  int64
	user      string
	partition int32
	offset    int64
	at        time.Time // the bench's clock just before producing
}

// runSteady produces one live order every o.steadyEvery for o.steadyFor with
// a short schedule interval, then measures each order's latency to its
// batch's commit (marts written, offsets committed) and to its user's
// message on dds-service-orders, and the worker's CPU over an idle window.
func (b *bench) runSteady(ctx context.Context) (res SteadyResult) {
	b.s.log.Info("steady: start", "interval", b.o.steadyInterval, "every", b.o.steadyEvery, "for", b.o.steadyFor)
	res, err := b.measureSteady(ctx)
	if err != nil {
		res.Error = err.Error()
		b.s.log.Error("steady failed", "err", err)
	} else {
		b.s.log.Info("steady: done", "orders", res.Orders, "p50_ms", round(res.CommitLatency.P50Ms, 0), "p99_ms", round(res.CommitLatency.P99Ms, 0),
			"idle_cpu_share", round(res.IdleCPUShare, 4))
	}
	return res
}

func (b *bench) measureSteady(ctx context.Context) (SteadyResult, error) {
	o := b.o
	r := SteadyResult{IntervalS: o.steadyInterval.Seconds(), EveryS: o.steadyEvery.Seconds(), ProduceForS: o.steadyFor.Seconds(),
		IdleWindowS: o.idleWindow.Seconds(), BatchSize: 100}
	st, err := b.s.newStack(ctx, "steady", func(c *config.Config) {
		c.Pipeline.ScheduleInterval = o.steadyInterval
		r.BatchSize = c.Pipeline.BatchSize
	})
	if err != nil {
		return r, err
	}
	defer st.close()
	w := simulator.NewWorld(simulator.Options{Seed: o.seed, End: time.Now().UTC()})
	if err := b.saveRefData(ctx, st, w); err != nil {
		return r, err
	}
	if err := st.startWorker(ctx); err != nil {
		return r, err
	}
	r.WorkerStartRSSMiB = mustMem(st.worker.PID)
	if _, err := starter.Ensure(ctx, b.s.tc, st.cfg); err != nil {
		return r, err
	}

	// Everything the worker sends to dds-service-orders, with the time it was produced.
	dds := newTopicRecorder(st.cfg.Kafka, st.cfg.Kafka.DdsTopic)
	defer dds.stop()

	r.BackgroundBusy = b.waitQuiet(ctx)
	_ = resetPeakRSS(st.worker.PID)
	s0 := st.snapshot(ctx)
	var sent []sentOrder
	tick := time.NewTicker(o.steadyEvery)
	defer tick.Stop()
	for end := time.Now().Add(o.steadyFor); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		msgs := w.Live(now)
		recs := make([]*kgo.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = &kgo.Record{Topic: st.cfg.Kafka.InputTopic, Value: m.Value, Timestamp: m.Timestamp}
		}
		if err := st.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return r, fmt.Errorf("produce a live order: %w", err)
		}
		var v struct {
			Payload struct {
				User struct {
					ID string `json:"id"`
				} `json:"user"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(msgs[0].Value, &v)
		sent = append(sent, sentOrder{objectID: msgs[0].ObjectID, user: v.Payload.User.ID,
			partition: recs[0].Partition, offset: recs[0].Offset, at: now})
		r.Records += len(msgs)
	}
	r.Orders = len(sent)
	if _, err := st.waitLagZero(ctx, 3*o.steadyInterval+time.Minute, nil); err != nil {
		return r, err
	}
	s1 := st.snapshot(ctx)
	r.Active = usage(s0, s1)
	r.ActiveCPUShare = r.Active.WorkerS / r.Active.WindowS

	// Idle: the schedule keeps firing, every run finds nothing.
	time.Sleep(time.Second)
	i0 := st.snapshot(ctx)
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-st.worker.Done():
		return r, fmt.Errorf("the worker exited during the idle window: %v", st.worker.Err())
	case <-time.After(o.idleWindow):
	}
	i1 := st.snapshot(ctx)
	r.Idle = usage(i0, i1)
	r.IdleCPUShare = r.Idle.WorkerS / r.Idle.WindowS
	r.WorkerPeakRSSMiB = float64(i1.workerPeakRSS) / mib
	r.WorkerEndRSSMiB = mustMem(st.worker.PID)

	batches, err := st.batches(ctx)
	if err != nil {
		return r, err
	}
	ddsRecs := dds.records()
	var toCommit, toDds []float64
	for _, s := range sent {
		bt, ok := batchOf(batches, s.partition, s.offset)
		if !ok || bt.committed.IsZero() {
			r.Unmatched++
			continue
		}
		toCommit = append(toCommit, ms(bt.committed.Sub(s.at)))
		if t, ok := firstFor(ddsRecs, s.user, bt.started); ok {
			toDds = append(toDds, ms(t.Sub(s.at)))
		}
	}
	r.CommitLatency = latencies(toCommit)
	r.DdsLatency = latencies(toDds)

	runs, err := st.listRuns(ctx)
	if err != nil {
		return r, fmt.Errorf("read run histories: %w", err)
	}
	loaded := loadedRuns(runs, batches)
	r.Breakdown = summarize(loaded, fetchedByRun(batches), false)
	var idleWall time.Duration
	for _, run := range runs {
		if _, ok := batches[run.RunID]; !ok && !run.End.IsZero() {
			r.IdleRuns++
			idleWall += run.Wall()
		}
	}
	if r.IdleRuns > 0 {
		r.IdleRunMeanMs = ms(idleWall) / float64(r.IdleRuns)
	}
	r.WorkerWarnings, r.WorkerErrors, r.WorkerLogSample = st.worker.LogCounts()
	r.WorkerLog = st.workerLog()
	return r, nil
}

// mustMem is pid's resident memory in MiB (0 when it cannot be read).
func mustMem(pid int) (rss float64) {
	_, c, _ := procMem(pid)
	return float64(c) / mib
}

// latencies summarizes a list of latencies in milliseconds.
func latencies(xs []float64) Latency {
	l := Latency{Count: len(xs)}
	if len(xs) == 0 {
		return l
	}
	l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs = percentile(xs, 50), percentile(xs, 90), percentile(xs, 99), percentile(xs, 100)
	l.MinMs = percentile(xs, 0)
	return l
}

// topicRecorder consumes a topic from its start and keeps every record's
// key and timestamp.
type topicRecorder struct {
	cancel context.CancelFunc
	done   chan struct{}
	recs   []keyedTime
}

type keyedTime struct {
	key string
	at  time.Time
}

func newTopicRecorder(cfg config.Kafka, topic string) *topicRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	t := &topicRecorder{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		opts, err := kafkaio.Options(cfg, nil, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			return
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return
		}
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				t.recs = append(t.recs, keyedTime{string(r.Key), r.Timestamp})
			})
		}
	}()
	return t
}

// records stops the consumer and returns what it read.
func (t *topicRecorder) records() []keyedTime {
	t.stop()
	return t.recs
}

func (t *topicRecorder) stop() {
	t.cancel()
	<-t.done
}

// firstFor returns the time of the first record keyed key at or after from.
func firstFor(recs []keyedTime, key string, from time.Time) (time.Time, bool) {
	var best time.Time
	for _, r := range recs {
		if r.key == key && !r.at.Before(from) && (best.IsZero() || r.at.Before(best)) {
			best = r.at
		}
	}
	return best, !best.IsZero()
}

// batchRow is one row of stg.batches.
type batchRow struct {
	id        string
	fetched   int
	started   time.Time
	committed time.Time // zero while open
	ranges    []kafkaio.Range
}

// batches reads stg.batches, keyed by batch id (= run id).
func (st *stack) batches(ctx context.Context) (map[string]batchRow, error) {
	rows, err := st.pool.Query(ctx, `SELECT batch_id, fetched, started_at, committed_at, ranges FROM stg.batches`)
	if err != nil {
		return nil, fmt.Errorf("read stg.batches: %w", err)
	}
	defer rows.Close()
	out := map[string]batchRow{}
	for rows.Next() {
		var b batchRow
		var committed *time.Time
		var ranges []byte
		if err := rows.Scan(&b.id, &b.fetched, &b.started, &committed, &ranges); err != nil {
			return nil, err
		}
		if committed != nil {
			b.committed = *committed
		}
		if err := json.Unmarshal(ranges, &b.ranges); err != nil {
			return nil, fmt.Errorf("batch %s ranges: %w", b.id, err)
		}
		out[b.id] = b
	}
	return out, rows.Err()
}

// batchSpan is the first batch's start and the last batch's commit.
func batchSpan(batches map[string]batchRow) (first, last time.Time, ok bool) {
	for _, b := range batches {
		if first.IsZero() || b.started.Before(first) {
			first = b.started
		}
		if b.committed.After(last) {
			last = b.committed
		}
	}
	return first, last, !first.IsZero() && !last.IsZero()
}

// batchOf finds the batch whose range holds the offset.
func batchOf(batches map[string]batchRow, partition int32, offset int64) (batchRow, bool) {
	for _, b := range batches {
		for _, rg := range b.ranges {
			if rg.Partition == partition && offset >= rg.From && offset < rg.To {
				return b, true
			}
		}
	}
	return batchRow{}, false
}

func fetchedByRun(batches map[string]batchRow) map[string]int {
	m := map[string]int{}
	for id, b := range batches {
		m[id] = b.fetched
	}
	return m
}

// loadedRuns keeps the runs that moved a batch (idle runs leave no row in stg.batches).
func loadedRuns(runs []RunTiming, batches map[string]batchRow) []RunTiming {
	var out []RunTiming
	for _, r := range runs {
		if _, ok := batches[r.RunID]; ok {
			out = append(out, r)
		}
	}
	return out
}

// chainRuns reads every run the schedules started recently, following each
// continue-as-new chain to its end.
func (st *stack) chainRuns(ctx context.Context) ([]RunTiming, error) {
	var runs []RunTiming
	for _, id := range starter.ScheduleIDs(st.cfg) {
		d, err := st.s.tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		for _, a := range d.Info.RecentActions {
			wf := a.StartWorkflowResult
			if wf == nil {
				continue
			}
			for runID := wf.FirstExecutionRunID; runID != ""; {
				r, err := st.runTiming(ctx, wf.WorkflowID, runID)
				if err != nil {
					return nil, err
				}
				runs = append(runs, r)
				runID = r.NextRunID
			}
		}
	}
	return runs, nil
}

// listRuns reads every run of the scenario's schedules through the
// visibility store (WorkflowId STARTS_WITH the schedule id prefix); if the
// server cannot answer that query it falls back to chainRuns.
func (st *stack) listRuns(ctx context.Context) ([]RunTiming, error) {
	query := fmt.Sprintf(`WorkflowId STARTS_WITH %q`, st.cfg.Pipeline.ScheduleID+"-")
	var runs []RunTiming
	var token []byte
	for {
		resp, err := st.s.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: st.cfg.Temporal.Namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			st.s.log.Warn("list workflows failed; reading the schedules' recent chains instead", "query", query, "err", err)
			return st.chainRuns(ctx)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				continue
			}
			r, err := st.runTiming(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return runs, nil
		}
	}
}

// runTiming reads one run's history, waiting (long poll, at most 30 s) for
// the run to close.
func (st *stack) runTiming(ctx context.Context, workflowID, runID string) (RunTiming, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	it := st.s.tc.GetWorkflowHistory(ctx, workflowID, runID, true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return RunTiming{}, fmt.Errorf("history of %s/%s: %w", workflowID, runID, err)
		}
		events = append(events, ev)
	}
	return parseRun(workflowID, runID, events), nil
}

// checkMarts compares the warehouse with the simulator's oracle: the number
// and sum of the nonzero counters of both marts, the orders in STG and the
// rejected messages.
func (st *stack) checkMarts(ctx context.Context, want simulator.Expected) Consistency {
	c := Consistency{ProductCountersWant: len(want.UserProducts), CategoryCountersWant: len(want.UserCategories),
		OrdersWant: want.Orders, RejectedWant: len(want.Rejected)}
	for _, n := range want.UserProducts {
		c.ProductSumWant += int64(n)
	}
	for _, n := range want.UserCategories {
		c.CategorySumWant += int64(n)
	}
	// The marts are final once the lag is 0 (offsets are committed after
	// UpsertCdm); look again for a few seconds before calling a mismatch.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := st.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FILTER (WHERE order_cnt <> 0) FROM cdm.user_product_counters),
			(SELECT coalesce(sum(order_cnt), 0) FROM cdm.user_product_counters),
			(SELECT count(*) FILTER (WHERE order_cnt <> 0) FROM cdm.user_category_counters),
			(SELECT coalesce(sum(order_cnt), 0) FROM cdm.user_category_counters),
			(SELECT count(*) FROM stg.order_events),
			(SELECT count(*) FROM stg.rejected_messages)`).
			Scan(&c.ProductCounters, &c.ProductSum, &c.CategoryCounters, &c.CategorySum, &c.Orders, &c.Rejected)
		if err != nil {
			c.Detail = "query failed: " + err.Error()
		} else {
			c.Detail = c.diff()
			c.OK = c.Detail == ""
		}
		if c.OK || time.Now().After(deadline) || ctx.Err() != nil {
			return c
		}
		time.Sleep(500 * time.Millisecond)
	}
}
