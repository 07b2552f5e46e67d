package main

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
)

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
	// Every transaction of this process is read-only, whatever it runs.
	pool, err := db.OpenReader(ctx, e.cfg.PGDSN, e.cfg.PGSetRole)
	if err != nil {
		return err
	}
	defer pool.Close()
	var views bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('bi.tag_counts') IS NOT NULL`).Scan(&views); err != nil {
		return fmt.Errorf("check the bi views: %w", err)
	}
	if !views {
		return fmt.Errorf("the database has no bi views: run `orderflow migrate` first")
	}
	cl, err := kafkaio.NewClient(e.cfg.Kafka, e.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	fmt.Fprintf(e.out, "dashboard on http://%s/ (JSON API under /api/); Ctrl-C stops it\n", *addr)
	return dashboard.Serve(ctx, *addr, e.cfg, pool, kafkaio.Admin(cl), e.log.With("component", "dashboard"))
}
