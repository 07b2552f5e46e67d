package observe_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/observe"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// deps are real clients to this test's services.
type deps struct {
	cfg  config.Config
	pool *pgxpool.Pool
	rdb  redis.UniversalClient
	kc   *kgo.Client
	tc   client.Client
}

func newDeps(t *testing.T) deps {
	t.Helper()
	cfg := testenv.Config(t, 1)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, cfg.PGDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	kc, err := kafkaio.NewClient(cfg.Kafka, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	tc, err := client.Dial(client.Options{
		HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace,
		MetricsHandler: observe.TemporalMetricsHandler(),
		Logger:         tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return deps{cfg: cfg, pool: pool, rdb: testenv.Redis(t), kc: kc, tc: tc}
}

// startModule runs observe.Module in an fx app on d's clients until the
// test ends and returns its server.
func startModule(t *testing.T, d deps) *observe.Server {
	t.Helper()
	var srv *observe.Server
	app := fx.New(
		fx.NopLogger,
		fx.Supply(d.cfg, slog.New(slog.DiscardHandler), d.pool, d.kc),
		fx.Supply(fx.Annotate(d.rdb, fx.As(new(redis.UniversalClient)))),
		fx.Supply(fx.Annotate(d.tc, fx.As(new(client.Client)))),
		observe.Module,
		fx.Populate(&srv),
	)
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// metricValue finds the sample of a metric line such as
// `orderflow_batches_total{shard="7"}` in a scrape; ok is false when absent.
func metricValue(scrape, series string) (v float64, ok bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(scrape)
	if m == nil {
		return 0, false
	}
	_, err := fmt.Sscan(m[1], &v)
	return v, err == nil
}

// TestModuleServesHealthReadinessAndMetrics runs observe.Module in an fx app
// against real PostgreSQL, Redis, Kafka and Temporal, runs a workflow whose
// worker has the activity interceptor, and reads the three endpoints.
func TestModuleServesHealthReadinessAndMetrics(t *testing.T) {
	d := newDeps(t)
	ctx := context.Background()

	srv := startModule(t, d)
	if srv.Addr() != d.cfg.HealthAddr {
		t.Fatalf("server listens on %s, want HEALTH_ADDR %s", srv.Addr(), d.cfg.HealthAddr)
	}
	base := "http://" + d.cfg.HealthAddr

	// Three records wait in the input topic: the lag must say so.
	recs := []*kgo.Record{}
	for i := range 3 {
		recs = append(recs, &kgo.Record{Topic: d.cfg.Kafka.InputTopic, Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := d.kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// A workflow with one activity, on a worker with the interceptor.
	activityName := "ObserveEcho_" + strings.ReplaceAll(testenv.UniqueSuffix(t), "-", "_")
	queue := "observe-" + testenv.UniqueSuffix(t)
	w := worker.New(d.tc, queue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{observe.ActivityInterceptor()}})
	w.RegisterActivityWithOptions(func(ctx context.Context, s string) (string, error) {
		time.Sleep(20 * time.Millisecond)
		return s, nil
	}, activity.RegisterOptions{Name: activityName})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, s string) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
		var out string
		err := workflow.ExecuteActivity(ctx, activityName, s).Get(ctx, &out)
		return out, err
	}, workflow.RegisterOptions{Name: "ObserveWorkflow"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := d.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue, TaskQueue: queue, WorkflowExecutionTimeout: 30 * time.Second}, "ObserveWorkflow", "hi")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hi" {
		t.Fatalf("workflow: %q, %v", out, err)
	}

	observe.BatchCommitted(41, 250)
	observe.BatchCommitted(41, 0) // an idle run is not a batch
	observe.AddRows("observe_test.rows", 12)
	observe.AddRejected("observe_test_reason", 2)

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusOK || !strings.HasPrefix(body, "ready\n") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	for _, dep := range []string{"postgres", "redis", "kafka", "temporal"} {
		if !strings.Contains(body, dep+": ok") {
			t.Errorf("/readyz does not report %s ok:\n%s", dep, body)
		}
	}

	code, scrape := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, scrape)
	}
	want := map[string]float64{
		`orderflow_input_lag_records{partition="0"}`:                                             3,
		`orderflow_batches_total{shard="41"}`:                                                    1,
		`orderflow_rows_written_total{table="observe_test.rows"}`:                                12,
		`orderflow_rejected_messages_total{reason="observe_test_reason"}`:                        2,
		`orderflow_activity_duration_seconds_count{activity="` + activityName + `"}`:             1,
		`orderflow_activity_duration_seconds_bucket{activity="` + activityName + `",le="0.005"}`: 0,
	}
	for series, v := range want {
		got, ok := metricValue(scrape, series)
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	for _, family := range []string{
		"# TYPE orderflow_batch_records histogram",
		"# TYPE go_goroutines gauge",
		"# TYPE temporal_request_total counter",
		"# TYPE temporal_activity_execution_latency_seconds histogram",
		"# TYPE temporal_workflow_completed_total counter",
	} {
		if !strings.Contains(scrape, family) {
			t.Errorf("/metrics lacks %q", family)
		}
	}
	// The SDK's tags are labels: the activity's latency names its type and queue.
	re := regexp.MustCompile(`(?m)^temporal_activity_execution_latency_seconds_count\{[^}]*activity_type="` + activityName + `"[^}]*\} 1$`)
	if line := re.FindString(scrape); line == "" || !strings.Contains(line, `task_queue="`+queue+`"`) {
		t.Errorf("no temporal_activity_execution_latency_seconds_count for %s on %s: %q", activityName, queue, line)
	}
}

// TestReadyzNamesTheUnreachableDependency replaces one dependency at a time
// with a client of a closed port: /readyz answers 503 naming it (and only
// it), and /healthz stays 200.
func TestReadyzNamesTheUnreachableDependency(t *testing.T) {
	d := newDeps(t)
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

	deadPool, err := pgxpool.New(context.Background(), "postgres://postgres@"+closed+"/orderflow?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadPool.Close)
	deadRedis := redis.NewClient(&redis.Options{Addr: closed, MaxRetries: -1})
	t.Cleanup(func() { deadRedis.Close() })
	deadKafka, err := kgo.NewClient(kgo.SeedBrokers(closed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadKafka.Close)
	deadTemporal, err := client.NewLazyClient(client.Options{HostPort: closed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(deadTemporal.Close)

	good := map[string]observe.Check{
		"postgres": observe.PostgresCheck(d.pool),
		"redis":    observe.RedisCheck(d.rdb),
		"kafka":    observe.KafkaCheck(d.kc),
		"temporal": observe.TemporalCheck(d.tc),
	}
	bad := map[string]observe.Check{
		"postgres": observe.PostgresCheck(deadPool),
		"redis":    observe.RedisCheck(deadRedis),
		"kafka":    observe.KafkaCheck(deadKafka),
		"temporal": observe.TemporalCheck(deadTemporal),
	}
	for _, failing := range []string{"postgres", "redis", "kafka", "temporal"} {
		t.Run(failing, func(t *testing.T) {
			var checks []observe.Check
			for _, name := range []string{"postgres", "redis", "kafka", "temporal"} {
				if name == failing {
					checks = append(checks, bad[name])
				} else {
					checks = append(checks, good[name])
				}
			}
			srv := observe.NewServer(observe.Options{Addr: "127.0.0.1:0", Checks: checks})
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Stop(context.Background()) })
			start := time.Now()
			code, body := get(t, "http://"+srv.Addr()+"/readyz")
			if took := time.Since(start); took > 3*observe.CheckTimeout {
				t.Errorf("/readyz took %s, the checks should stop after %s", took, observe.CheckTimeout)
			}
			if code != http.StatusServiceUnavailable {
				t.Errorf("/readyz with %s unreachable: %d, want 503\n%s", failing, code, body)
			}
			if first, _, _ := strings.Cut(body, "\n"); first != "not ready: "+failing {
				t.Errorf("/readyz first line %q, want %q\n%s", first, "not ready: "+failing, body)
			}
			if !strings.Contains(body, failing+": FAIL") {
				t.Errorf("/readyz does not say why %s failed:\n%s", failing, body)
			}
			if code, _ := get(t, "http://"+srv.Addr()+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz with %s unreachable: %d, want 200 (liveness must not depend on it)", failing, code)
			}
		})
	}
}

func TestStartFailsWhenHealthAddrIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := observe.NewServer(observe.Options{Addr: ln.Addr().String()})
	if err := srv.Start(); err == nil {
		_ = srv.Stop(context.Background())
		t.Fatalf("Start on a taken port %s succeeded", ln.Addr())
	} else if !strings.Contains(err.Error(), "HEALTH_ADDR") {
		t.Errorf("error does not name HEALTH_ADDR: %v", err)
	}
}

// TestPprofOnlyWhenAsked: /debug/pprof/ answers with PPROF on, 404 without.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := observe.NewServer(observe.Options{Pprof: on}).Handler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("PPROF=%v: GET /debug/pprof/ = %d, want %d", on, rec.Code, want)
		}
		if on && !strings.Contains(rec.Body.String(), "goroutine") {
			t.Errorf("PPROF=true: /debug/pprof/ does not list the goroutine profile")
		}
	}
}
