package observe

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/health"
)

// The stall alarm (CONTRACT §10, "a stalled pipeline is loud"; the rule is
// health.Judge). The health server sets them at every scrape of /metrics
// from one query of PostgreSQL and the input lag, so every worker's
// /metrics tells the same truth, not only the one that committed. When
// PostgreSQL does not answer their series are dropped (alert on their
// absence too).
var (
	// LastCommit is when each shard's newest batch committed, in Unix
	// seconds (orderflow_last_commit_timestamp_seconds{shard}): newest
	// stg.batches.committed_at of the shard; max() over the shards is the
	// pipeline's last commit. A shard has no series until it has committed.
	LastCommit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "orderflow_last_commit_timestamp_seconds",
		Help: "When the shard's newest non-empty batch committed (Unix seconds; newest stg.batches.committed_at, read at scrape time). Absent before the shard's first commit.",
	}, []string{"shard"})

	// PipelineStalled is 1 while the pipeline is stalled, else 0
	// (orderflow_pipeline_stalled).
	PipelineStalled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "orderflow_pipeline_stalled",
		Help: "1 while a shard is stalled: at least 2 runs failed for good since its last commit, or records wait and it has not committed for 3 schedule intervals; else 0 (read at scrape time).",
	}, nil)

	// PipelineLastError is 1 for each stalled shard, labelled with the type
	// and step of its newest failed run since its last commit ("none" when
	// none was recorded) (orderflow_pipeline_last_error_info). No series
	// while nothing is stalled.
	PipelineLastError = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "orderflow_pipeline_last_error_info",
		Help: "1 per stalled shard, labelled with the error type and step of its newest run that failed for good since its last commit (none: no failure recorded).",
	}, []string{"shard", "error_type", "step"})
)

func init() {
	Registry.MustRegister(LastCommit, PipelineStalled, PipelineLastError)
}

// setStall publishes a verdict of the stall rule.
func setStall(st health.Stall) {
	LastCommit.Reset()
	for shard, at := range st.Commits {
		LastCommit.WithLabelValues(strconv.Itoa(shard)).Set(float64(at.UnixNano()) / 1e9)
	}
	stalled := 0.0
	if st.Stalled {
		stalled = 1
	}
	PipelineStalled.WithLabelValues().Set(stalled)
	PipelineLastError.Reset()
	for _, sh := range st.Shards {
		PipelineLastError.WithLabelValues(strconv.Itoa(sh.Shard), sh.ErrorType(), sh.Step()).Set(1)
	}
}

// dropStall removes the alarm's series: a stale verdict would mislead.
func dropStall() {
	LastCommit.Reset()
	PipelineStalled.Reset()
	PipelineLastError.Reset()
}

// PipelineStall returns an Options.Stall that judges the stall rule for
// cfg's shards and schedule interval: one query through pool, and the lag.
func PipelineStall(pool *pgxpool.Pool, cfg config.Pipeline) func(context.Context, map[int32]int64) (health.Stall, error) {
	return func(ctx context.Context, lag map[int32]int64) (health.Stall, error) {
		return health.CheckStall(ctx, pool, cfg.Shards, cfg.ScheduleInterval, lag)
	}
}
