// Package observe makes an orderflow process observable: an HTTP server on
// HEALTH_ADDR with /healthz (the process is alive), /readyz (PostgreSQL,
// Redis, Kafka and Temporal answer) and Prometheus /metrics; the pipeline's
// own metrics; a Temporal SDK metrics handler that feeds the same registry;
// and an activity interceptor that times every activity.
//
// Wiring (see Module):
//
//	fx.New(..., workers.Clients, workers.Module, observe.Module)
//	client.Options{..., MetricsHandler: observe.TemporalMetricsHandler()}
//	worker.Options{Interceptors: []interceptor.WorkerInterceptor{observe.ActivityInterceptor()}}
package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/kafkaio"
)

// CheckTimeout bounds each readiness check and the input-lag refresh.
const CheckTimeout = 2 * time.Second

// Check is one readiness check: the dependency's name (shown by /readyz when
// it fails) and a probe that returns an error when the dependency does not answer.
type Check struct {
	Name  string
	Probe func(context.Context) error
}

// PostgresCheck pings PostgreSQL through the pool.
func PostgresCheck(pool *pgxpool.Pool) Check {
	return Check{Name: "postgres", Probe: pool.Ping}
}

// RedisCheck sends PING to Redis.
func RedisCheck(rdb redis.UniversalClient) Check {
	return Check{Name: "redis", Probe: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}
}

// KafkaCheck asks a Kafka broker for metadata (kgo.Client.Ping).
func KafkaCheck(cl *kgo.Client) Check {
	return Check{Name: "kafka", Probe: cl.Ping}
}

// TemporalCheck calls the Temporal frontend's health check.
func TemporalCheck(c client.Client) Check {
	return Check{Name: "temporal", Probe: func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
}

// Options configure a Server.
type Options struct {
	// Addr is the listen address (HEALTH_ADDR), e.g. 0.0.0.0:8081.
	Addr string
	// Pprof also serves Go's profiler under /debug/pprof/ (PPROF).
	Pprof bool
	// Log receives the server's errors; nil discards them.
	Log *slog.Logger
	// Checks are run, concurrently and each within CheckTimeout, by /readyz.
	Checks []Check
	// InputLag, when set, is called before each scrape of /metrics to
	// refresh InputLag (records waiting per input partition).
	InputLag func(context.Context) (map[int32]int64, error)
	// Stall, when set, is called after InputLag (with its lag; nil when
	// unknown) before each scrape of /metrics to set the stall alarm's
	// metrics (stall.go); PipelineStall is the production one.
	Stall func(context.Context, map[int32]int64) (health.Stall, error)
}

// Server serves /healthz, /readyz and /metrics.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	lag  sync.Mutex // one input-lag (and stall) refresh at a time

	stopping atomic.Bool // set by SetStopping: /readyz answers 503

	mu   sync.Mutex
	srv  *http.Server
	addr string
}

// NewServer builds a server; Start listens.
func NewServer(opts Options) *Server {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log.With("component", "observe"), mux: http.NewServeMux()}
	metrics := promhttp.HandlerFor(Registry, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}, ErrorHandling: promhttp.ContinueOnError})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s.refreshStall(r.Context(), s.refreshLag(r.Context()))
		metrics.ServeHTTP(w, r)
	})
	if opts.Pprof {
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return s
}

// Handler is the server's routes, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens on Options.Addr (so a taken port fails the start) and serves
// in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("health server on HEALTH_ADDR %s: %w", s.opts.Addr, err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv, s.addr = srv, ln.Addr().String()
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("health server stopped", "err", err)
		}
	}()
	s.log.Info("health server started", "addr", s.addr, "paths", "/healthz /readyz /metrics")
	return nil
}

// Stop shuts the server down, waiting for requests in flight until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Addr is the address the server listens on (after Start), e.g. 127.0.0.1:8081.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// SetStopping makes /readyz answer 503 "not ready: stopping" from now on,
// while /healthz and /metrics still answer: the process is shutting down
// (its workers finish their activities) and should get no new work.
func (s *Server) SetStopping() { s.stopping.Store(true) }

// checkResult is the outcome of one readiness check.
type checkResult struct {
	name string
	err  error
	took time.Duration
}

// readyz runs every check concurrently, each within CheckTimeout: 200 when
// all pass, else 503 with a first line naming the failing dependencies;
// after SetStopping, 503 "not ready: stopping" without checking.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: stopping")
		return
	}
	results := make([]checkResult, len(s.opts.Checks))
	var wg sync.WaitGroup
	for i, c := range s.opts.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
			defer cancel()
			start := time.Now()
			err := c.Probe(ctx)
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			results[i] = checkResult{name: c.Name, err: err, took: time.Since(start)}
		})
	}
	wg.Wait()
	var failed []string
	var body strings.Builder
	for _, res := range results {
		if res.err != nil {
			failed = append(failed, res.name)
			fmt.Fprintf(&body, "%s: FAIL after %s: %v\n", res.name, res.took.Round(time.Millisecond), res.err)
		} else {
			fmt.Fprintf(&body, "%s: ok (%s)\n", res.name, res.took.Round(time.Millisecond))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		s.log.Warn("not ready", "failing", strings.Join(failed, ","))
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", strings.Join(failed, ", "))
	} else {
		fmt.Fprintln(w, "ready")
	}
	fmt.Fprint(w, body.String())
}

// refreshLag sets InputLag from Options.InputLag and returns the lag; on
// failure the series are dropped (a stale lag would mislead), the error is
// logged and the lag is nil.
func (s *Server) refreshLag(ctx context.Context) map[int32]int64 {
	if s.opts.InputLag == nil {
		return nil
	}
	s.lag.Lock()
	defer s.lag.Unlock()
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	lag, err := s.opts.InputLag(ctx)
	if err != nil {
		InputLag.Reset()
		s.log.Warn("input lag unavailable", "err", err)
		return nil
	}
	setInputLag(lag)
	return lag
}

// refreshStall sets the stall alarm's metrics from Options.Stall (lag nil:
// unknown); on failure their series are dropped and the error is logged.
func (s *Server) refreshStall(ctx context.Context, lag map[int32]int64) {
	if s.opts.Stall == nil {
		return
	}
	s.lag.Lock()
	defer s.lag.Unlock()
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	st, err := s.opts.Stall(ctx, lag)
	if err != nil {
		dropStall()
		s.log.Warn("pipeline stall unknown", "err", err)
		return
	}
	setStall(st)
}

// KafkaInputLag returns an Options.InputLag that reads, for every partition
// of the input topic, the end offset minus the consumer group's next offset.
func KafkaInputLag(cl *kgo.Client, cfg config.Kafka) func(context.Context) (map[int32]int64, error) {
	adm := kafkaio.Admin(cl)
	return func(ctx context.Context) (map[int32]int64, error) {
		parts, err := kafkaio.Owned(ctx, adm, cfg.InputTopic, 0, 1)
		if err != nil {
			return nil, err
		}
		pos, err := kafkaio.Position(ctx, adm, cfg.Group, cfg.InputTopic, parts)
		if err != nil {
			return nil, err
		}
		lag := make(map[int32]int64, len(pos.End))
		for p, end := range pos.End {
			lag[p] = max(0, end-pos.Next[p])
		}
		return lag, nil
	}
}

// New builds the process's health server from the shared clients and starts
// and stops it with the fx application.
func New(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, pool *pgxpool.Pool, rdb redis.UniversalClient, kc *kgo.Client, tc client.Client) *Server {
	s := NewServer(Options{
		Addr:  cfg.HealthAddr,
		Pprof: cfg.Pprof,
		Log:   log,
		Checks: []Check{
			PostgresCheck(pool), RedisCheck(rdb), KafkaCheck(kc), TemporalCheck(tc),
		},
		InputLag: KafkaInputLag(kc, cfg.Kafka),
		Stall:    PipelineStall(pool, cfg.Pipeline),
	})
	lc.Append(fx.StartStopHook(s.Start, s.Stop))
	return s
}

// Module runs the health server (New) on HEALTH_ADDR for the process's
// lifetime. It needs config.Config, *slog.Logger, *pgxpool.Pool,
// redis.UniversalClient, *kgo.Client and client.Client in the graph (what
// workers.App supplies).
var Module = fx.Module("observe",
	fx.Provide(New),
	fx.Invoke(func(*Server) {}),
)

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Error(fmt.Sprint(v...)) }
