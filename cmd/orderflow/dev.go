package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workers"
)

const (
	// devStartTimeout bounds dev's start: the Temporal dev server may take
	// up to a minute (devstack.StartTemporal), then the migrations and the
	// workers.
	devStartTimeout = 3 * time.Minute
	// devStopExtra is what dev's stop may take beyond the workers': the
	// dashboard's shutdown and the Temporal dev server's (up to 10 s).
	devStopExtra = 20 * time.Second
)

// cmdDev runs the whole local stack in one process tree: the kfake broker
// (persisting to DATA_DIR/kafka), the Temporal dev server (DATA_DIR/temporal.db),
// the workers of every role, the schedules, the dashboard, the simulator
// (unless ORDERFLOW_DEMO=0) and a progress line. Ctrl-C stops it; state
// survives.
//
// It is one fx app: the local stack's module comes first, so its start
// hooks (broker, Temporal dev server, migrations) run before the workers'
// clients check their services, and its stop hooks run last; the schedules,
// the dashboard, the simulator and the progress line start after the
// workers and stop before them.
func cmdDev(ctx context.Context, e *env, args []string) error {
	faults, err := parseWorkerFlags(e, flags("dev", "dev"), args)
	if err != nil {
		return err
	}
	cfg := e.cfg
	cfg.WorkerRoles = slices.Clone(config.Roles)
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	app := fx.New(
		fx.Module("devstack",
			fx.Supply(&env{cfg: cfg, log: e.log, out: e.out}),
			fx.Provide(newDevTemporal),
			// In this order: a constructor's hooks run in the order it ran.
			fx.Invoke(startDevBroker, func(*devTemporal) {}, migrateOnStart),
		),
		workers.Process(cfg, e.log),
		faults,
		fx.StartTimeout(devStartTimeout),
		fx.StopTimeout(workers.StopTimeout(cfg)+devStopExtra),
		fx.Invoke(ensureSchedules, serveDashboard, runSimulator, printProgress),
	)
	return runApp(ctx, app, nil)
}

// startDevBroker runs the kfake broker, persisting to DATA_DIR/kafka, from
// the app's start to its stop.
func startDevBroker(lc fx.Lifecycle, e *env) {
	kafkaDir := filepath.Join(e.cfg.DataDir, "kafka")
	var cluster *kfake.Cluster
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			c, err := devstack.StartBroker(brokerOptions(e, e.cfg.Kafka.Brokers[0], kafkaDir))
			if err != nil {
				return err
			}
			cluster = c
			e.log.Info("kafka broker (kfake) started", "addr", e.cfg.Kafka.Brokers[0], "data", kafkaDir)
			return nil
		},
		OnStop: func(context.Context) error {
			cluster.Close()
			return nil
		},
	})
}

// devTemporal is the Temporal dev server (DATA_DIR/temporal.db, its output
// appended to DATA_DIR/temporal.log), started with the app; server is set
// once it started. Should it exit while the app runs, the app stops.
type devTemporal struct {
	server *devstack.TemporalServer
}

func newDevTemporal(lc fx.Lifecycle, sd fx.Shutdowner, e *env) *devTemporal {
	dir := e.cfg.DataDir
	t := &devTemporal{}
	var tlog *os.File
	stopping := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			bin, err := devstack.TemporalBin()
			if err != nil {
				return err
			}
			port, err := portOf(e.cfg.Temporal.Address)
			if err != nil {
				return fmt.Errorf("TEMPORAL_ADDRESS: %w", err)
			}
			if tlog, err = os.OpenFile(filepath.Join(dir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
				return err
			}
			e.log.Info("starting the Temporal dev server", "addr", e.cfg.Temporal.Address, "log", tlog.Name())
			t.server, err = devstack.StartTemporal(ctx, devstack.TemporalOptions{
				Bin: bin, DBFile: filepath.Join(dir, "temporal.db"), Port: port, UIPort: 8233, Log: tlog,
			})
			if err != nil {
				_ = tlog.Close()
				return err
			}
			go func() {
				select {
				case <-t.server.Done():
					e.log.Error("the Temporal dev server exited; see DATA_DIR/temporal.log")
					_ = sd.Shutdown()
				case <-stopping:
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			close(stopping)
			if err := t.server.Stop(); err != nil {
				e.log.Warn("temporal dev server stop", "err", err)
			}
			return tlog.Close()
		},
	})
	return t
}

// migrateOnStart applies the migrations when the app starts, as the setup
// Job does before any worker starts: workers never migrate.
func migrateOnStart(lc fx.Lifecycle, e *env) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		n, err := migrate(ctx, e)
		if err != nil {
			return err
		}
		e.log.Info("database migrated", "applied", n, "schema_version", db.ExpectedVersion())
		return nil
	}))
}

// devIn is what dev's components beside the workers need: the workers'
// clients and the Temporal dev server.
type devIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Env       *env
	Pool      *pgxpool.Pool
	Redis     redis.UniversalClient
	Kafka     *kgo.Client
	Temporal  client.Client
	Server    *devTemporal
}

// ensureSchedules creates or updates the schedules once the workers run,
// and prints where everything is.
func ensureSchedules(in devIn) {
	e := in.Env
	in.Lifecycle.Append(fx.StartHook(func(ctx context.Context) error {
		ids, err := starter.Ensure(ctx, in.Temporal, e.cfg)
		if err != nil {
			return err
		}
		cfg := e.cfg
		fmt.Fprintf(e.out, `
orderflow is running.
  dashboard     http://%s/   (API: /api/users/<user id>, /api/top/products, /api/tags)
  Temporal UI   %s/namespaces/%s/schedules  (schedules %v, every %s)
  Kafka         %s  topics %s, %s, %s
  PostgreSQL    %s
  Redis         %s
  health        http://%s/readyz  metrics http://%s/metrics
  data          %s
Ctrl-C stops everything; state survives a restart.

`, cfg.DashboardAddr, in.Server.server.UIURL(), cfg.Temporal.Namespace, ids, cfg.Pipeline.ScheduleInterval, cfg.Kafka.Brokers[0],
			cfg.Kafka.InputTopic, cfg.Kafka.StgTopic, cfg.Kafka.DdsTopic, redactDSN(cfg.PGDSN), cfg.Redis.Addr,
			cfg.HealthAddr, cfg.HealthAddr, cfg.DataDir)
		return nil
	}))
}

func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

func redactDSN(dsn string) string {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return "(unparsable PG_DSN)"
	}
	c := cfg.ConnConfig
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// cmdBroker runs only the local Kafka broker (kfake), as dev does.
func cmdBroker(ctx context.Context, e *env, args []string) error {
	fs := flags("broker", "broker [-addr host:port] [-data dir]")
	addr := fs.String("addr", e.cfg.Kafka.Brokers[0], "listen address")
	dir := fs.String("data", e.cfg.DataDir+"/kafka", "data folder (empty: in memory)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	cluster, err := devstack.StartBroker(brokerOptions(e, *addr, *dir))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "kafka broker on %s, data in %s (Ctrl-C stops)\n", *addr, *dir)
	<-ctx.Done()
	cluster.Close()
	return nil
}

// brokerOptions are those of the local broker (`broker`, `dev`): on addr,
// persisting to dir, with the three topics of e's configuration.
func brokerOptions(e *env, addr, dir string) devstack.BrokerOptions {
	k := e.cfg.Kafka
	return devstack.BrokerOptions{
		Addr: addr, DataDir: dir, Partitions: k.Partitions,
		Topics: []string{k.InputTopic, k.StgTopic, k.DdsTopic},
	}
}

// What dev runs beside the workers, each from the app's start to its stop:
// the simulator and the progress line.

// background runs fn in a goroutine from the app's start until its stop,
// which cancels fn's context and waits for it to return.
func background(lc fx.Lifecycle, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	lc.Append(fx.StartStopHook(func() {
		wg.Go(func() { fn(ctx) })
	}, func() {
		cancel()
		wg.Wait()
	}))
}

// runSimulator produces orders (simulate) while dev runs, unless
// ORDERFLOW_DEMO=0.
func runSimulator(in devIn) {
	e := in.Env
	if !e.cfg.Demo {
		in.Lifecycle.Append(fx.StartHook(func() {
			e.log.Info("ORDERFLOW_DEMO=0: no simulator; produce real orders to the input topic")
		}))
		return
	}
	background(in.Lifecycle, func(ctx context.Context) {
		err := simulate(ctx, e, in.Redis, in.Kafka, e.cfg.Sim.HistoryOrders, e.cfg.Sim.PerMinute)
		if err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error("simulator stopped", "err", err)
		}
	})
}

// printProgress prints the progress line while dev runs (progress), and
// "stopping…" when dev stops: its stop hook is the first to run.
func printProgress(in devIn) {
	e := in.Env
	background(in.Lifecycle, func(ctx context.Context) {
		progress(ctx, e, in.Pool, in.Kafka, func() {
			// A backlog need not wait for the schedule's next tick.
			if err := starter.Trigger(ctx, in.Temporal, e.cfg); err != nil {
				e.log.Warn("trigger", "err", err)
			}
		})
	})
	in.Lifecycle.Append(fx.StopHook(func() { fmt.Fprintln(e.out, "stopping…") }))
}

// progress prints the status line when it changed (it is taken every 2 s)
// or a minute after it was last printed, until ctx ends. When a backlog
// first appears it calls backlog once and then reports how long it took to
// drain.
func progress(ctx context.Context, e *env, pool *pgxpool.Pool, cl *kgo.Client, backlog func()) {
	adm := kafkaio.Admin(cl)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var last, start time.Time
	var lastLine string
	drained := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rep, err := health.Take(ctx, e.cfg, pool, adm)
			if err != nil {
				e.log.Warn("status", "err", err)
				continue
			}
			big := int64(e.cfg.Pipeline.BatchSize)
			if rep.TotalLag > big && start.IsZero() {
				start = time.Now()
				backlog()
			}
			if line, now := rep.String(), time.Now(); printDue(line, lastLine, now, last) {
				fmt.Fprintf(e.out, "%s  %s\n", now.Format("15:04:05"), line)
				lastLine, last = line, now
			}
			if rep.TotalLag < big && !start.IsZero() && !drained {
				drained = true
				fmt.Fprintf(e.out, "%s  caught up: the backlog drained within %s\n", time.Now().Format("15:04:05"), time.Since(start).Round(time.Second))
			}
		}
	}
}

// printDue tells whether progress prints line at now: when it differs from
// lastLine, printed at lastAt, or lastAt is a minute ago or more.
func printDue(line, lastLine string, now, lastAt time.Time) bool {
	return line != lastLine || now.Sub(lastAt) >= time.Minute
}
