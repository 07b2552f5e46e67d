package observe_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/observe"
)

// TestStallMetrics runs observe.Module against real PostgreSQL (migrated),
// Kafka, Redis and Temporal, writes batches and failed runs as the pipeline
// would, and reads the stall alarm's metrics from /metrics: the last commit
// comes from the database (this process committed nothing), the flag
// follows the rule, the error's labels follow the newest failure.
func TestStallMetrics(t *testing.T) {
	d := newDeps(t)
	ctx := context.Background()
	if _, err := db.Migrate(ctx, d.pool); err != nil {
		t.Fatal(err)
	}
	d.cfg.Pipeline.Shards = 1
	d.cfg.Pipeline.ScheduleInterval = 10 * time.Second // stalled after 30 s without a commit

	srv := startModule(t, d)
	base := "http://" + srv.Addr()

	scrape := func() string {
		t.Helper()
		start := time.Now()
		code, body := get(t, base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("/metrics took %s", took)
		}
		return body
	}
	errorSeries := func(body string) []string {
		return regexp.MustCompile(`(?m)^orderflow_pipeline_last_error_info\{.*$`).FindAllString(body, -1)
	}
	batch := func(id string, ago time.Duration) time.Time {
		t.Helper()
		var at time.Time
		if err := d.pool.QueryRow(ctx, `INSERT INTO stg.batches (batch_id, shard, shards, load_dt, ranges, fetched, backlog, started_at, committed_at)
			VALUES ($1, 0, 1, now(), '[]', 3, 0, now() - $2::float8 * interval '1 second', now() - $2::float8 * interval '1 second')
			RETURNING committed_at`, id, ago.Seconds()).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	fail := func(id, step, typ string) {
		t.Helper()
		if _, err := d.pool.Exec(ctx, `INSERT INTO stg.run_failures (shard, batch_id, step, error_type, message)
			VALUES (0, $1, $2, $3, 'permission denied for table h_user')`, id, step, typ); err != nil {
			t.Fatal(err)
		}
	}
	lastCommit := func(body string, want time.Time) {
		t.Helper()
		v, ok := metricValue(body, `orderflow_last_commit_timestamp_seconds{shard="0"}`)
		if exp := float64(want.UnixNano()) / 1e9; !ok || math.Abs(v-exp) > 0.001 {
			t.Errorf("orderflow_last_commit_timestamp_seconds = %v (present %v), want %.3f", v, ok, exp)
		}
	}

	// Nothing ran yet: not stalled, no last commit, no error.
	body := scrape()
	if v, ok := metricValue(body, "orderflow_pipeline_stalled"); !ok || v != 0 {
		t.Errorf("empty warehouse: orderflow_pipeline_stalled = %v (present %v), want 0", v, ok)
	}
	if strings.Contains(body, "\norderflow_last_commit_timestamp_seconds{") || len(errorSeries(body)) != 0 {
		t.Errorf("empty warehouse: a last commit or an error is reported:\n%s", errorSeries(body))
	}

	// Three records wait in Kafka and the last commit is 5 minutes old.
	var recs []*kgo.Record
	for range 3 {
		recs = append(recs, &kgo.Record{Topic: d.cfg.Kafka.InputTopic, Value: []byte(`{}`)})
	}
	if err := d.kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	old := batch("old", 5*time.Minute)
	body = scrape()
	if v, _ := metricValue(body, `orderflow_input_lag_records{partition="0"}`); v != 3 {
		t.Fatalf("lag %v, want 3", v)
	}
	if v, ok := metricValue(body, "orderflow_pipeline_stalled"); !ok || v != 1 {
		t.Errorf("records wait, last commit 5 min ago: orderflow_pipeline_stalled = %v, want 1", v)
	}
	lastCommit(body, old)
	if s := errorSeries(body); len(s) != 1 || s[0] != `orderflow_pipeline_last_error_info{error_type="none",shard="0",step="none"} 1` {
		t.Errorf("no failure recorded: error series %q", s)
	}

	// Two runs fail for good: their type and step are the labels.
	fail("run-1", "LoadDdsVault", "BadSQL")
	fail("run-2", "LoadDdsVault", "BadSQL")
	body = scrape()
	if s := errorSeries(body); len(s) != 1 || s[0] != `orderflow_pipeline_last_error_info{error_type="BadSQL",shard="0",step="LoadDdsVault"} 1` {
		t.Errorf("two failed runs: error series %q", s)
	}

	// A batch commits: not stalled any more (by either rule), no error series.
	fresh := batch("fresh", 0)
	body = scrape()
	if v, ok := metricValue(body, "orderflow_pipeline_stalled"); !ok || v != 0 {
		t.Errorf("after a commit: orderflow_pipeline_stalled = %v (present %v), want 0", v, ok)
	}
	lastCommit(body, fresh)
	if s := errorSeries(body); len(s) != 0 {
		t.Errorf("after a commit: error series %q", s)
	}

	// Runs keep failing with nothing waiting: stalled all the same.
	fail("run-3", "FetchBatch", "KafkaRejected")
	fail("run-4", "FetchBatch", "KafkaRejected")
	body = scrape()
	if v, _ := metricValue(body, "orderflow_pipeline_stalled"); v != 1 {
		t.Errorf("two runs failed after the last commit: orderflow_pipeline_stalled = %v, want 1", v)
	}
	for _, family := range []string{"# TYPE orderflow_pipeline_stalled gauge", "# TYPE orderflow_last_commit_timestamp_seconds gauge",
		"# TYPE orderflow_pipeline_last_error_info gauge"} {
		if !strings.Contains(body, family) {
			t.Errorf("/metrics lacks %q", family)
		}
	}
}

// TestStallMetricsDroppedWhenUnknown: when the stall cannot be judged (the
// database does not answer) the alarm's series go rather than stay stale.
func TestStallMetricsDroppedWhenUnknown(t *testing.T) {
	answer := true
	srv := observe.NewServer(observe.Options{Stall: func(context.Context, map[int32]int64) (health.Stall, error) {
		if !answer {
			return health.Stall{}, context.DeadlineExceeded
		}
		return health.Stall{Stalled: true, LastCommit: time.Unix(1700000000, 0), Commits: map[int]time.Time{2: time.Unix(1700000000, 0)},
			Shards: []health.ShardStall{{Shard: 2, Last: &health.Failure{ErrorType: "BadSQL", Step: "UpsertCdm"}}}}, nil
	}})
	h := srv.Handler()
	read := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := read()
	if v, _ := metricValue(body, "orderflow_pipeline_stalled"); v != 1 {
		t.Errorf("stalled = %v, want 1", v)
	}
	if v, _ := metricValue(body, `orderflow_pipeline_last_error_info{error_type="BadSQL",shard="2",step="UpsertCdm"}`); v != 1 {
		t.Errorf("error info missing:\n%s", body)
	}
	if v, _ := metricValue(body, `orderflow_last_commit_timestamp_seconds{shard="2"}`); v != 1700000000 {
		t.Errorf("shard 2's last commit = %v, want 1700000000", v)
	}
	answer = false
	body = read()
	for _, name := range []string{"orderflow_pipeline_stalled", "orderflow_last_commit_timestamp_seconds", "orderflow_pipeline_last_error_info{"} {
		if strings.Contains(body, "\n"+name) {
			t.Errorf("the database does not answer, yet /metrics has %s", name)
		}
	}
}
