package observe

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds every metric a process exposes on /metrics: the Go runtime
// and process collectors, the pipeline's own metrics below, and the Temporal
// SDK's metrics (TemporalMetricsHandler). It is not prometheus.DefaultRegisterer,
// so libraries that register there do not leak into orderflow's endpoint.
var Registry = prometheus.NewRegistry()

// The pipeline's own metrics. Activities update them through the helpers
// (BatchCommitted, AddRows, AddRejected) or directly; ActivityInterceptor
// observes ActivityDuration; the server refreshes InputLag at every scrape.
// Activity retries may count a batch's rows twice: read them as rates.
var (
	// InputLag is how many input records wait behind the consumer group's
	// committed offset, per input partition (orderflow_input_lag_records).
	// The health server refreshes it from Kafka at every scrape of /metrics.
	InputLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "orderflow_input_lag_records",
		Help: "Input records waiting behind the consumer group's committed offset, per partition (read from Kafka at scrape time).",
	}, []string{"partition"})

	// BatchRecords is the number of input records of each committed,
	// non-empty batch (orderflow_batch_records).
	BatchRecords = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "orderflow_batch_records",
		Help:    "Input records per committed non-empty batch.",
		Buckets: []float64{1, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
	})

	// RowsWritten counts rows inserted or updated per table, named
	// schema.table (orderflow_rows_written_total).
	RowsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_rows_written_total",
		Help: "Rows inserted or updated, per table (schema.table).",
	}, []string{"table"})

	// RejectedMessages counts input messages rejected to
	// stg.rejected_messages, per reason (orderflow_rejected_messages_total).
	RejectedMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_rejected_messages_total",
		Help: "Input messages rejected to stg.rejected_messages, per reason.",
	}, []string{"reason"})

	// ActivityDuration is how long each activity execution took, per
	// activity type, failed attempts included
	// (orderflow_activity_duration_seconds).
	ActivityDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "orderflow_activity_duration_seconds",
		Help:    "Duration of each activity execution (every attempt), per activity type.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"activity"})

	// SharedLockHeld counts the seconds each lock that every shard needs was
	// held (from acquiring it to the end of its transaction), per lock
	// (orderflow_shared_lock_held_seconds_total). Its rate over the batches'
	// wall time is the serial share that bounds how many pipelines help.
	SharedLockHeld = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_shared_lock_held_seconds_total",
		Help: "Seconds a lock every shard needs was held, per lock (acquired to end of transaction).",
	}, []string{"lock"})

	// Batches counts committed non-empty batches per shard (orderflow_batches_total).
	Batches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_batches_total",
		Help: "Committed non-empty batches, per shard.",
	}, []string{"shard"})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		InputLag, BatchRecords, RowsWritten, RejectedMessages, ActivityDuration, Batches, SharedLockHeld,
		sdkMetrics,
	)
}

// BatchCommitted records a batch whose offsets were committed: one more
// batch for the shard and its record count in BatchRecords. Idle runs
// (records == 0) are not counted. Call it from CommitOffsets with the sum of
// To-From over the committed ranges.
func BatchCommitted(shard, records int) {
	if records <= 0 {
		return
	}
	Batches.WithLabelValues(strconv.Itoa(shard)).Inc()
	BatchRecords.Observe(float64(records))
}

// AddRows adds n rows written to table (schema.table, e.g. "dds.h_user").
// Zero and negative counts are ignored.
func AddRows(table string, n int64) {
	if n > 0 {
		RowsWritten.WithLabelValues(table).Add(float64(n))
	}
}

// AddRejected adds n messages rejected for reason (an order.Reason such as
// "unknown_restaurant"). Zero and negative counts are ignored.
func AddRejected(reason string, n int) {
	if n > 0 {
		RejectedMessages.WithLabelValues(reason).Add(float64(n))
	}
}

// setInputLag replaces InputLag's series with lag (records per partition).
func setInputLag(lag map[int32]int64) {
	InputLag.Reset()
	for p, n := range lag {
		InputLag.WithLabelValues(strconv.Itoa(int(p))).Set(float64(n))
	}
}

// LockHeld adds d to the time lock was held (SharedLockHeld).
func LockHeld(lock string, d time.Duration) {
	SharedLockHeld.WithLabelValues(lock).Add(d.Seconds())
}
