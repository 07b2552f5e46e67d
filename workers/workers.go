// Package workers wires orderflow's processes with fx: the shared clients
// (PostgreSQL, Redis, Kafka, Temporal) and one Temporal worker per role
// (stg, dds, cdm), each on its own task queue. One process may run every role.
package workers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/temporalclient"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/refdata"
	"github.com/orderflow/orderflow/workflows"
)

// Clients are the shared connections of a process.
var Clients = fx.Module("clients",
	fx.Provide(NewPool, NewRedis, NewKafka, NewTemporal),
)

// Module runs the workers of cfg.WorkerRoles, each layer on its own pool.
// Two seams serve the fault tests (internal/faults, linked only into
// binaries built with -tags faults): an optional activities.Hook and the
// value group InterceptorGroup of extra worker interceptors; nothing in
// production provides either.
var Module = fx.Module("workers",
	fx.Provide(NewPools, fx.Annotate(NewActivities, fx.ParamTags("", "", "", "", "", "", `optional:"true"`))),
	fx.Invoke(fx.Annotate(Register, fx.ParamTags("", "", "", "", "", `group:"`+InterceptorGroup+`"`))),
)

// InterceptorGroup is the fx value group of worker interceptors that
// Register adds after its own (observe's): the fault tests' kill and slow
// faults.
const InterceptorGroup = "worker_interceptors"

// App is a whole worker process: its config and logger, the clients, the
// workers, the health server.
//
// Stopping runs fx's stop hooks in reverse order of their start: first
// /readyz turns to 503 (notReadyOnStop), then the workers stop polling and
// finish their activities (up to WORKER_STOP_TIMEOUT), then the health
// server stops (so /healthz and /metrics answer while the workers drain),
// and only then the clients close (the Temporal client after the workers,
// whose hooks were appended after it was built).
func App(cfg config.Config, log *slog.Logger, extra ...fx.Option) *fx.App {
	return fx.New(
		fx.Supply(cfg, log),
		fx.StopTimeout(StopTimeout(cfg)),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
			l.UseLogLevel(slog.LevelDebug)
			// Every error fx meets is also returned by Start or Stop, and
			// the caller reports it: logged at error level too, a failing
			// start would print the same error three times.
			l.UseErrorLevel(slog.LevelDebug)
			return l
		}),
		Clients,
		observe.Module, // before Module: its server stops after the workers
		Module,
		fx.Invoke(notReadyOnStop), // after Module: its hook is the first to stop
		fx.Options(extra...),
	)
}

// StopTimeout is how long stopping a worker process may take in all:
// WORKER_STOP_TIMEOUT for the activities plus 10 s for the rest, and never
// less than fx's default. Keep terminationGracePeriodSeconds above it.
func StopTimeout(cfg config.Config) time.Duration {
	return max(fx.DefaultTimeout, cfg.Temporal.WorkerStopTimeout+10*time.Second)
}

// notReadyOnStop makes /readyz answer 503 as soon as the process starts
// stopping, before the workers drain.
func notReadyOnStop(lc fx.Lifecycle, s *observe.Server, log *slog.Logger) {
	lc.Append(fx.StopHook(func() {
		log.Info("stopping: /readyz now answers 503")
		s.SetStopping()
	}))
}

// NewPool opens the PostgreSQL pool of the login user, checks the schema
// is the one this build expects, and closes the pool on stop. Workers never
// migrate (`orderflow migrate`, the setup Job, does): a database behind this
// build fails the start; one ahead of it (a newer build migrated it, as in a
// rollout or a rollback of the image) is logged as a warning and the worker
// runs, since migrations only add.
func NewPool(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, error) {
	ctx := context.Background()
	pool, err := db.Open(ctx, cfg.PGDSN)
	if err != nil {
		return nil, err
	}
	if err := db.CheckSchema(ctx, pool); err != nil {
		var m *db.SchemaMismatch
		if !errors.As(err, &m) || m.Behind() {
			pool.Close()
			return nil, err
		}
		log.Warn("running on a newer schema", "err", err, "schema_version", m.Have, "build_version", m.Want)
	}
	lc.Append(fx.StopHook(pool.Close))
	return pool, nil
}

// NewPools opens one pool per worker role of this process, acting as the
// role's PostgreSQL role when PG_SET_ROLE is on (else sharing pool).
func NewPools(lc fx.Lifecycle, cfg config.Config, pool *pgxpool.Pool) (activities.Pools, error) {
	var ps activities.Pools
	for _, role := range cfg.WorkerRoles {
		p := pool
		if cfg.PGSetRole {
			var err error
			if p, err = db.OpenAs(context.Background(), cfg.PGDSN, db.Role(string(role))); err != nil {
				return ps, err
			}
			lc.Append(fx.StopHook(p.Close))
		}
		switch role {
		case config.RoleStg:
			ps.Stg = p
		case config.RoleDds:
			ps.Dds = p
		case config.RoleCdm:
			ps.Cdm = p
		}
	}
	return ps, nil
}

// OpenRedis connects to Redis (with AUTH and TLS when configured) and checks it answers.
func OpenRedis(ctx context.Context, cfg config.Redis) (*redis.Client, error) {
	opts := &redis.Options{Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB}
	if cfg.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s is unreachable: %w", cfg.Addr, err)
	}
	return rdb, nil
}

// NewRedis is OpenRedis for fx: closed when the process stops.
func NewRedis(lc fx.Lifecycle, cfg config.Config) (redis.UniversalClient, error) {
	rdb, err := OpenRedis(context.Background(), cfg.Redis)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(rdb.Close))
	return rdb, nil
}

// NewKafka builds the producer/admin client, whose record batches are
// capped by what each topic accepts (limits), and checks a broker answers.
func NewKafka(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*kgo.Client, *kafkaio.Limits, error) {
	limits := kafkaio.NewLimits()
	cl, err := kafkaio.NewClient(cfg.Kafka, log, kgo.ProducerBatchMaxBytesFn(limits.BatchMax))
	if err != nil {
		return nil, nil, err
	}
	if err := kafkaio.Ping(context.Background(), cl, cfg.Kafka.Brokers); err != nil {
		cl.Close()
		return nil, nil, err
	}
	limits.SetAdmin(kafkaio.Admin(cl))
	lc.Append(fx.StopHook(cl.Close))
	return cl, limits, nil
}

// NewTemporal dials the Temporal frontend.
func NewTemporal(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (client.Client, error) {
	c, err := temporalclient.Dial(context.Background(), cfg.Temporal, log, observe.TemporalMetricsHandler())
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(c.Close))
	return c, nil
}

// NewActivities gathers the activities' dependencies; hook is the fault
// tests' (nil in production).
func NewActivities(cfg config.Config, log *slog.Logger, pools activities.Pools, rdb redis.UniversalClient, cl *kgo.Client, limits *kafkaio.Limits, hook activities.Hook) *activities.Activities {
	return &activities.Activities{
		Cfg: cfg, DB: pools, Refs: refdata.NewStore(rdb),
		Kafka: cl, Admin: kafkaio.Admin(cl), Limits: limits, Log: log, Hook: hook,
	}
}

// roleActivities lists which activities each role runs: the methods
// themselves, which the SDK names after the method (a.FetchBatch is
// "FetchBatch", activities.FetchBatchName).
func roleActivities(a *activities.Activities) map[config.Role][]any {
	return map[config.Role][]any{
		config.RoleStg: {a.FetchBatch, a.EnrichViaRedis, a.LoadStg, a.CommitOffsets,
			a.SplitBatch, a.StorePoison, a.RecordFailure,
			a.FetchSlice, a.FinishSlice},
		config.RoleDds: {a.LoadDdsVault, a.EmitCounters, a.RetractPoison,
			a.RunVerify},
		config.RoleCdm: {a.UpsertCdm},
	}
}

// roleWorkflows lists which workflows each role runs: the functions, which
// the SDK names after the function (workflows.PipelineName, VerifyName).
// The daily check (CONTRACT §14) runs where it reads: the vault's worker.
func roleWorkflows() map[config.Role][]any {
	return map[config.Role][]any{
		config.RoleStg: {workflows.Pipeline},
		config.RoleDds: {workflows.Verify},
	}
}

// registry is what a role's worker registers; worker.Worker and the SDK's
// test environments both are one.
type registry interface {
	RegisterWorkflow(w any)
	RegisterActivity(a any)
}

// registerRole registers role's workflows and activities on r.
func registerRole(r registry, role config.Role, a *activities.Activities) {
	for _, wf := range roleWorkflows()[role] {
		r.RegisterWorkflow(wf)
	}
	for _, fn := range roleActivities(a)[role] {
		r.RegisterActivity(fn)
	}
}

// Register creates one Temporal worker per configured role and starts and
// stops them with the process. The stg worker also runs the Pipeline
// workflow, the dds worker the Verify workflow. On stop every worker stops
// polling at once and lets its running activities finish for up to
// WORKER_STOP_TIMEOUT before their contexts are cancelled. extra are
// interceptors to add after observe's (InterceptorGroup).
func Register(lc fx.Lifecycle, cfg config.Config, c client.Client, a *activities.Activities, log *slog.Logger, extra []interceptor.WorkerInterceptor) {
	opts := worker.Options{
		Interceptors:      append([]interceptor.WorkerInterceptor{observe.ActivityInterceptor()}, extra...),
		WorkerStopTimeout: cfg.Temporal.WorkerStopTimeout,
	}
	type roleWorker struct {
		role  config.Role
		queue string
		w     worker.Worker
	}
	var ws []roleWorker
	for _, role := range cfg.WorkerRoles {
		queue := cfg.Temporal.TaskQueue(role)
		w := worker.New(c, queue, opts)
		registerRole(w, role, a)
		ws = append(ws, roleWorker{role, queue, w})
	}
	stopAll := func(ws []roleWorker) {
		var wg sync.WaitGroup
		for _, rw := range ws {
			wg.Go(rw.w.Stop)
		}
		wg.Wait()
	}
	lc.Append(fx.StartStopHook(func() error {
		for i, rw := range ws {
			log.Info("worker started", "role", rw.role, "task_queue", rw.queue)
			if err := rw.w.Start(); err != nil {
				stopAll(ws[:i])
				return fmt.Errorf("start the %s worker: %w", rw.role, err)
			}
		}
		return nil
	}, func() {
		// Together, so no role keeps taking work while another drains.
		start := time.Now()
		log.Info("workers stopping: no new tasks; running activities may finish", "within", cfg.Temporal.WorkerStopTimeout)
		stopAll(ws)
		log.Info("workers stopped", "took", time.Since(start).Round(time.Millisecond))
	}))
}
