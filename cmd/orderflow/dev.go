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
	"time"

	"go.uber.org/fx"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workers"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
)

// cmdDev runs the whole local stack in one process tree: the kfake broker
// (persisting to DATA_DIR/kafka), the Temporal dev server (DATA_DIR/temporal.db),
// the workers of every role, the schedules, the simulator (unless
// ORDERFLOW_DEMO=0) and a progress line. Ctrl-C stops it; state survives.
func cmdDev(ctx context.Context, e *env, args []string) error {
	fs := flags("dev", "dev")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	faults, err := faultOptions()
	if err != nil {
		return err
	}
	cfg := e.cfg
	cfg.WorkerRoles = slices.Clone(config.Roles)
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}

	cluster, err := devstack.StartBroker(devstack.BrokerOptions{
		Addr: cfg.Kafka.Brokers[0], DataDir: filepath.Join(dataDir, "kafka"), Partitions: cfg.Kafka.Partitions,
		Topics: []string{cfg.Kafka.InputTopic, cfg.Kafka.StgTopic, cfg.Kafka.DdsTopic},
	})
	if err != nil {
		return err
	}
	defer cluster.Close()
	e.log.Info("kafka broker (kfake) started", "addr", cfg.Kafka.Brokers[0], "data", filepath.Join(dataDir, "kafka"))

	bin, err := devstack.TemporalBin()
	if err != nil {
		return err
	}
	port, err := portOf(cfg.Temporal.Address)
	if err != nil {
		return fmt.Errorf("TEMPORAL_ADDRESS: %w", err)
	}
	tlog, err := os.OpenFile(filepath.Join(dataDir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer tlog.Close()
	e.log.Info("starting the Temporal dev server", "addr", cfg.Temporal.Address, "log", tlog.Name())
	ts, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		Bin: bin, DBFile: filepath.Join(dataDir, "temporal.db"), Port: port, UIPort: 8233, Log: tlog,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := ts.Stop(); err != nil {
			e.log.Warn("temporal dev server stop", "err", err)
		}
	}()

	// Workers never migrate: apply the migrations first, as the setup Job does.
	n, err := applyMigrations(ctx, cfg.PGDSN)
	if err != nil {
		return err
	}
	e.log.Info("database migrated", "applied", n, "schema_version", db.ExpectedVersion())

	var pool *pgxpool.Pool
	var rdb redis.UniversalClient
	var cl *kgo.Client
	var tc client.Client
	app := workers.App(cfg, e.log, faults, fx.Populate(&pool, &rdb, &cl, &tc))
	if err := startApp(ctx, app); err != nil {
		return err
	}
	defer func() {
		if err := app.Stop(context.Background()); err != nil {
			e.log.Warn("workers stop", "err", err)
		}
	}()
	ids, err := starter.Ensure(ctx, tc, cfg)
	if err != nil {
		return err
	}

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

`, cfg.DashboardAddr, ts.UIURL(), cfg.Temporal.Namespace, ids, cfg.Pipeline.ScheduleInterval, cfg.Kafka.Brokers[0],
		cfg.Kafka.InputTopic, cfg.Kafka.StgTopic, cfg.Kafka.DdsTopic, redactDSN(cfg.PGDSN), cfg.Redis.Addr,
		cfg.HealthAddr, cfg.HealthAddr, dataDir)

	go func() {
		if err := dashboard.Serve(ctx, cfg.DashboardAddr, cfg, pool, kafkaio.Admin(cl), e.log.With("component", "dashboard")); err != nil {
			e.log.Error("dashboard stopped", "err", err)
		}
	}()

	simDone := make(chan error, 1)
	if cfg.Demo {
		go func() { simDone <- simulate(ctx, e, rdb, cl, cfg.Sim.HistoryOrders, cfg.Sim.PerMinute) }()
	} else {
		e.log.Info("ORDERFLOW_DEMO=0: no simulator; produce real orders to the input topic")
	}
	progress(ctx, e, pool, cl, ts, simDone, func() {
		// A backlog need not wait for the schedule's next tick.
		if err := starter.Trigger(ctx, tc, cfg); err != nil {
			e.log.Warn("trigger", "err", err)
		}
	})
	fmt.Fprintln(e.out, "stopping…")
	return nil
}

// progress prints the status line when it changed (it is taken every 2 s)
// or a minute after it was last printed, until ctx ends or the Temporal
// server dies. When a backlog first appears it calls backlog once and then
// reports how long it took to drain.
func progress(ctx context.Context, e *env, pool *pgxpool.Pool, cl *kgo.Client, ts *devstack.TemporalServer, simDone <-chan error, backlog func()) {
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
		case <-ts.Done():
			e.log.Error("the Temporal dev server exited; see DATA_DIR/temporal.log")
			return
		case err := <-simDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				e.log.Error("simulator stopped", "err", err)
			}
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

// applyMigrations applies the migrations on a pool of its own (what
// `orderflow migrate` does) and returns how many it applied.
func applyMigrations(ctx context.Context, dsn string) (int, error) {
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	return db.Migrate(ctx, pool)
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
