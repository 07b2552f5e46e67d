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

// Clients are the shared connections of a process. Their constructors
// dial nothing: each client checks its service answers in a start hook,
// with the start's context (so fx's start timeout and Ctrl-C cancel a dial
// that hangs), and is closed in a stop hook.
var Clients = fx.Module("clients",
	fx.Provide(NewPool, NewRedis, NewKafka, NewTemporal,
		func(t *Temporal) client.Client { return t }),
)

// Module runs the workers of cfg.WorkerRoles, each layer on its own pool.
// Two seams serve the fault tests (internal/faults, linked only into
// binaries built with -tags faults): an optional activities.Hook and the
// value group InterceptorGroup of extra worker interceptors; nothing in
// production provides either.
var Module = fx.Module("workers",
	fx.Provide(NewPools, NewActivities),
	fx.Invoke(Register),
)

// InterceptorGroup is the fx value group of worker interceptors that
// Register adds after its own (observe's): the fault tests' kill and slow
// faults.
const InterceptorGroup = "worker_interceptors"

// Process is a whole worker process: its config and logger, the clients,
// the workers, the health server. App is Process as an fx app; dev adds
// its local stack before it.
//
// Starting runs the start hooks in the order their constructors ran: the
// clients check their services, then the health server and the workers
// start. Stopping runs the stop hooks in reverse order: first /readyz turns
// to 503 (notReadyOnStop), then the workers stop polling and finish their
// activities (up to WORKER_STOP_TIMEOUT), then the health server stops (so
// /healthz and /metrics answer while the workers drain), and only then the
// clients close (the Temporal client after the workers, whose hooks were
// appended after it was built).
func Process(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(
		fx.Supply(cfg, log),
		fx.StartTimeout(StartTimeout),
		fx.StopTimeout(StopTimeout(cfg)),
		FxLogger(log),
		Clients,
		observe.Module, // before Module: its server stops after the workers
		Module,
		fx.Invoke(notReadyOnStop), // after Module: its hook is the first to stop
	)
}

// App is a worker process (Process) with extra options (the fault tests').
func App(cfg config.Config, log *slog.Logger, extra ...fx.Option) *fx.App {
	return fx.New(Process(cfg, log), fx.Options(extra...))
}

// FxLogger logs fx's events on log at debug level. Every error fx meets is
// also returned by Start or Stop, and the caller reports it: logged at error
// level too, a failing start would print the same error three times.
func FxLogger(log *slog.Logger) fx.Option {
	return fx.WithLogger(func() fxevent.Logger {
		l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
		l.UseLogLevel(slog.LevelDebug)
		l.UseErrorLevel(slog.LevelDebug)
		return l
	})
}

// StartTimeout bounds a worker process's start: every client's check and
// the workers' start.
const StartTimeout = time.Minute

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

// NewPool builds the PostgreSQL pool of the login user. When the process
// starts it checks the server answers and the schema is the one this build
// expects; the pool closes on stop. Workers never migrate (`orderflow
// migrate`, the setup Job, does): a database behind this build fails the
// start; one ahead of it (a newer build migrated it, as in a rollout or a
// rollback of the image) is logged as a warning and the worker runs, since
// migrations only add.
func NewPool(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := db.NewPool(cfg.PGDSN, "", false)
	if err != nil {
		return nil, err
	}
	appendPoolHooks(lc, pool, func(ctx context.Context) error {
		if err := db.Ping(ctx, pool); err != nil {
			return err
		}
		err := db.CheckSchema(ctx, pool)
		var m *db.SchemaMismatch
		if err == nil || !errors.As(err, &m) || m.Behind() {
			return err
		}
		log.Warn("running on a newer schema", "err", err, "schema_version", m.Have, "build_version", m.Want)
		return nil
	})
	return pool, nil
}

// appendPoolHooks checks pool with check when the process starts and
// closes it when the process stops, or at once when the check fails.
func appendPoolHooks(lc fx.Lifecycle, pool *pgxpool.Pool, check func(context.Context) error) {
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := check(ctx); err != nil {
				pool.Close()
				return err
			}
			return nil
		},
		OnStop: func(context.Context) error {
			pool.Close()
			return nil
		},
	})
}

// NewPools builds one pool per worker role of this process, acting as the
// role's PostgreSQL role when PG_SET_ROLE is on (else sharing pool); each
// role's pool is checked when the process starts.
func NewPools(lc fx.Lifecycle, cfg config.Config, pool *pgxpool.Pool) (activities.Pools, error) {
	var ps activities.Pools
	for _, role := range cfg.WorkerRoles {
		p := pool
		if cfg.PGSetRole {
			var err error
			if p, err = db.NewPool(cfg.PGDSN, db.Role(string(role)), false); err != nil {
				return ps, err
			}
			appendPoolHooks(lc, p, func(ctx context.Context) error { return db.Ping(ctx, p) })
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
	rdb := newRedis(cfg)
	if err := pingRedis(ctx, rdb, cfg); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// newRedis builds the client of cfg; it dials when first used.
func newRedis(cfg config.Redis) *redis.Client {
	opts := &redis.Options{Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB}
	if cfg.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(opts)
}

func pingRedis(ctx context.Context, rdb *redis.Client, cfg config.Redis) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s is unreachable: %w", cfg.Addr, err)
	}
	return nil
}

// NewRedis is OpenRedis for fx: checked when the process starts, closed
// when it stops.
func NewRedis(lc fx.Lifecycle, cfg config.Config) redis.UniversalClient {
	rdb := newRedis(cfg.Redis)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return pingRedis(ctx, rdb, cfg.Redis) },
		OnStop:  func(context.Context) error { return rdb.Close() },
	})
	return rdb
}

// NewKafka builds the producer/admin client, whose record batches are
// capped by what each topic accepts (limits); when the process starts it
// checks a broker answers.
func NewKafka(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*kgo.Client, *kafkaio.Limits, error) {
	limits := kafkaio.NewLimits()
	cl, err := kafkaio.NewClient(cfg.Kafka, log, kgo.ProducerBatchMaxBytesFn(limits.BatchMax))
	if err != nil {
		return nil, nil, err
	}
	limits.SetAdmin(kafkaio.Admin(cl))
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return kafkaio.Ping(ctx, cl, cfg.Kafka.Brokers) },
		OnStop: func(context.Context) error {
			cl.Close()
			return nil
		},
	})
	return cl, limits, nil
}

// Temporal is the process's Temporal client (client.Client in the graph
// too): NewTemporal dials it when the process starts and closes it when the
// process stops. Nothing may call it before the start hooks ran.
type Temporal struct{ client.Client }

// NewTemporal dials the Temporal frontend when the process starts.
func NewTemporal(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) *Temporal {
	t := &Temporal{}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			c, err := temporalclient.Dial(ctx, cfg.Temporal, log, observe.TemporalMetricsHandler())
			t.Client = c
			return err
		},
		OnStop: func(context.Context) error {
			t.Close()
			return nil
		},
	})
	return t
}

// ActivitiesIn is what the activities are built from; Hook is the fault
// tests' (nil in production).
type ActivitiesIn struct {
	fx.In
	Config config.Config
	Log    *slog.Logger
	Pools  activities.Pools
	Redis  redis.UniversalClient
	Kafka  *kgo.Client
	Limits *kafkaio.Limits
	Hook   activities.Hook `optional:"true"`
}

// NewActivities gathers the activities' dependencies.
func NewActivities(in ActivitiesIn) *activities.Activities {
	cfg, log, pools, rdb, cl, limits, hook := in.Config, in.Log, in.Pools, in.Redis, in.Kafka, in.Limits, in.Hook
	return &activities.Activities{
		Settings: activities.Settings{Kafka: cfg.Kafka, FetchWait: cfg.Pipeline.FetchWait},
		DB:       pools, Refs: refdata.NewStore(rdb),
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

// RegisterIn is what Register needs; Interceptors are the extra ones of
// the value group InterceptorGroup (the tag must spell its value).
type RegisterIn struct {
	fx.In
	Lifecycle    fx.Lifecycle
	Config       config.Config
	Temporal     *Temporal
	Activities   *activities.Activities
	Log          *slog.Logger
	Interceptors []interceptor.WorkerInterceptor `group:"worker_interceptors"`
}

// Register starts one Temporal worker per configured role when the process
// starts (once the Temporal client is dialled) and stops them with it. The
// stg worker also runs the Pipeline workflow, the dds worker the Verify
// workflow. On stop every worker stops polling at once and lets its running
// activities finish for up to WORKER_STOP_TIMEOUT before their contexts are
// cancelled. The extra interceptors come after observe's.
func Register(in RegisterIn) {
	cfg, log := in.Config, in.Log
	opts := worker.Options{
		Interceptors:      append([]interceptor.WorkerInterceptor{observe.ActivityInterceptor()}, in.Interceptors...),
		WorkerStopTimeout: cfg.Temporal.WorkerStopTimeout,
	}
	type roleWorker struct {
		role  config.Role
		queue string
		w     worker.Worker
	}
	var ws []roleWorker
	stopAll := func(ws []roleWorker) {
		var wg sync.WaitGroup
		for _, rw := range ws {
			wg.Go(rw.w.Stop)
		}
		wg.Wait()
	}
	in.Lifecycle.Append(fx.StartStopHook(func() error {
		for _, role := range cfg.WorkerRoles {
			queue := cfg.Temporal.TaskQueue(role)
			w := worker.New(in.Temporal.Client, queue, opts)
			registerRole(w, role, in.Activities)
			ws = append(ws, roleWorker{role, queue, w})
		}
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
