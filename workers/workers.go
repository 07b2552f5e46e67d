// Package workers wires orderflow's processes with fx: the shared clients
// (PostgreSQL, Redis, Kafka, Temporal) and one Temporal worker per role
// (stg, dds, cdm), each on its own task queue. One process may run every role.
package workers

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

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
	"go.uber.org/fx/fxevent"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/faults"
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
var Module = fx.Module("workers",
	fx.Provide(NewPools, NewActivities),
	fx.Invoke(Register),
)

// App is a whole worker process: its config and logger, the clients, the workers.
func App(cfg config.Config, log *slog.Logger, extra ...fx.Option) *fx.App {
	return fx.New(
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		Clients,
		Module,
		observe.Module,
		fx.Options(extra...),
	)
}

// NewPool opens the PostgreSQL pool of the login user, applies the
// migrations (several processes may do so at once), and closes it on stop.
func NewPool(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, error) {
	ctx := context.Background()
	pool, err := db.Open(ctx, cfg.PGDSN)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(pool.Close))
	n, err := db.Migrate(ctx, pool)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		log.Info("applied migrations", "count", n)
	}
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
			if p, err = db.OpenAs(context.Background(), cfg.PGDSN, db.Role(role)); err != nil {
				return ps, err
			}
			lc.Append(fx.StopHook(p.Close))
		}
		switch role {
		case "stg":
			ps.Stg = p
		case "dds":
			ps.Dds = p
		case "cdm":
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
	c, err := client.Dial(client.Options{
		HostPort:       cfg.Temporal.Address,
		Namespace:      cfg.Temporal.Namespace,
		Logger:         tlog.NewStructuredLogger(log.With("component", "temporal")),
		MetricsHandler: observe.TemporalMetricsHandler(),
	})
	if err != nil {
		return nil, fmt.Errorf("temporal at %s is unreachable: %w", cfg.Temporal.Address, err)
	}
	lc.Append(fx.StopHook(c.Close))
	return c, nil
}

// NewActivities gathers the activities' dependencies.
func NewActivities(cfg config.Config, log *slog.Logger, pools activities.Pools, rdb redis.UniversalClient, cl *kgo.Client, limits *kafkaio.Limits) (*activities.Activities, error) {
	poison, err := activities.ParsePoisonHook(cfg.FaultPoison)
	if err != nil {
		return nil, err
	}
	return &activities.Activities{
		Cfg: cfg, DB: pools, Refs: refdata.NewStore(rdb),
		Kafka: cl, Admin: kafkaio.Admin(cl), Limits: limits, Log: log, Poison: poison,
	}, nil
}

// roleActivities lists which activities each role runs.
func roleActivities(a *activities.Activities) map[string]map[string]any {
	return map[string]map[string]any{
		"stg": {"FetchBatch": a.FetchBatch, "EnrichViaRedis": a.EnrichViaRedis, "LoadStg": a.LoadStg, "CommitOffsets": a.CommitOffsets,
			"SplitBatch": a.SplitBatch, "StorePoison": a.StorePoison, "RecordFailure": a.RecordFailure,
			"FetchSlice": a.FetchSlice, "FinishSlice": a.FinishSlice},
		"dds": {"LoadDdsVault": a.LoadDdsVault, "EmitCounters": a.EmitCounters, "RetractPoison": a.RetractPoison,
			"RunVerify": a.RunVerify},
		"cdm": {"UpsertCdm": a.UpsertCdm},
	}
}

// Register creates one Temporal worker per configured role and starts and
// stops it with the process. The stg worker also runs the Pipeline workflow,
// the dds worker the Verify workflow.
func Register(lc fx.Lifecycle, cfg config.Config, c client.Client, a *activities.Activities, log *slog.Logger) error {
	opts := worker.Options{Interceptors: []interceptor.WorkerInterceptor{observe.ActivityInterceptor()}}
	kill, err := faults.Parse(cfg.FaultKill)
	if err != nil {
		return err
	}
	if kill != nil {
		log.Warn("fault injection armed: this worker will kill itself", "activity", kill.Activity, "after", kill.After)
		opts.Interceptors = append(opts.Interceptors, kill.Interceptor())
	}
	byRole := roleActivities(a)
	for _, role := range cfg.WorkerRoles {
		queue := cfg.Temporal.TaskQueue(role)
		w := worker.New(c, queue, opts)
		for name, fn := range byRole[role] {
			w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
		}
		if role == "stg" {
			w.RegisterWorkflowWithOptions(workflows.Pipeline, workflow.RegisterOptions{Name: "Pipeline"})
		}
		if role == "dds" {
			// The daily check (SPEC 14) runs where it reads: the vault's worker.
			w.RegisterWorkflowWithOptions(workflows.Verify, workflow.RegisterOptions{Name: "Verify"})
		}
		lc.Append(fx.StartStopHook(func() error {
			log.Info("worker started", "role", role, "task_queue", queue)
			return w.Start()
		}, w.Stop))
	}
	return nil
}
