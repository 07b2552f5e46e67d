package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/workers"
)

// dashboardIn is what the dashboard component needs: the warehouse's pool
// and a Kafka client from the app (the dashboard command's own, or dev's
// workers').
type dashboardIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	Config     config.Config
	Log        *slog.Logger
	Pool       *pgxpool.Pool
	Kafka      *kgo.Client
}

// serveDashboard makes the dashboard a component of the app: it listens on
// DASHBOARD_ADDR in a start hook and shuts down in a stop hook, letting the
// requests in flight finish (up to dashboard.ShutdownTimeout). Should the
// server fail meanwhile, it stops the app.
func serveDashboard(in dashboardIn) {
	log := in.Log.With("component", "dashboard")
	dash := dashboard.New(in.Config, in.Pool, kafkaio.Admin(in.Kafka), log)
	var run *dashboard.Running
	in.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			var err error
			if run, err = dash.Listen(ctx, in.Config.DashboardAddr); err != nil {
				return err
			}
			go func() {
				if err := run.Wait(); err != nil {
					fail(in.Shutdowner, log, "dashboard stopped", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, dashboard.ShutdownTimeout)
			defer cancel()
			return run.Shutdown(ctx)
		},
	})
}

// cmdDashboard serves the dashboard and its read-only JSON API on
// DASHBOARD_ADDR (or -addr) until Ctrl-C, on its own PostgreSQL pool and
// Kafka client (for the lag). Its sessions are read-only and, with
// PG_SET_ROLE on, act as the read-only role orderflow_reader. The warehouse
// must be migrated (`orderflow migrate`, or any worker's start).
func cmdDashboard(ctx context.Context, e *env, args []string) error {
	fs := flags("dashboard", "dashboard [-addr host:port]")
	addr := fs.String("addr", e.cfg.DashboardAddr, "listen address")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	cfg := e.cfg
	cfg.DashboardAddr = *addr
	app := fx.New(
		fx.Supply(cfg, e.log),
		workers.FxLogger(e.log),
		fx.StartTimeout(workers.StartTimeout),
		fx.Provide(newReaderPool, newLagClient),
		fx.Invoke(serveDashboard),
	)
	return runApp(ctx, app, func() {
		fmt.Fprintf(e.out, "dashboard on http://%s/ (JSON API under /api/); Ctrl-C stops it\n", cfg.DashboardAddr)
	})
}

// newReaderPool builds the dashboard command's pool, whose every
// transaction is read-only, whatever it runs. When the app starts it checks
// the server answers and the warehouse has the bi views (it is migrated).
func newReaderPool(lc fx.Lifecycle, cfg config.Config) (*pgxpool.Pool, error) {
	role := ""
	if cfg.PGSetRole {
		role = db.Role("reader")
	}
	pool, err := db.NewPool(cfg.PGDSN, role, true)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := db.Ping(ctx, pool); err != nil {
				return err
			}
			var views bool
			if err := pool.QueryRow(ctx, `SELECT to_regclass('bi.tag_counts') IS NOT NULL`).Scan(&views); err != nil {
				return fmt.Errorf("check the bi views: %w", err)
			}
			if !views {
				return fmt.Errorf("the database has no bi views: run `orderflow migrate` first")
			}
			return nil
		},
		OnStop: func(context.Context) error {
			pool.Close()
			return nil
		},
	})
	return pool, nil
}

// newLagClient builds the Kafka client the dashboard reads the lag with;
// it dials when first used, and a broker that does not answer leaves the
// lag chart empty rather than stopping the dashboard.
func newLagClient(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*kgo.Client, error) {
	cl, err := kafkaio.NewClient(cfg.Kafka, log)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(cl.Close))
	return cl, nil
}
