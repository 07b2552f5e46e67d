// Command orderflow is the whole system in one binary: the workers, the
// schedule controls, migrations, the simulator, reprocessing, and the local
// stack behind `make run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/buildinfo"
)

const usage = `orderflow: a streaming data warehouse for food-delivery orders.

Usage: orderflow <command> [flags]

Commands:
  dev         run the whole local stack (kfake broker, Temporal dev server,
              migrations, workers, schedule, simulator); what make run starts
  worker      run the Temporal workers of WORKER_ROLES (stg,dds,cdm)
  migrate     apply the database migrations and exit
  schedule    manage the pipeline's schedules: ensure | pause | resume |
              trigger | delete | describe
  rewind      move the consumer group's offsets (-offset N or -time T; refuses while
              a schedule runs, -pause pauses, waits and resumes by itself)
  backfill    re-load the input records of a time range (-from, -to) through a
              schedule backfill, without moving the group's offsets
  reprocess   re-queue rejected messages of a reason whose cause is fixed
  simulate    run the order-service simulator against KAFKA_BROKERS and REDIS_ADDR
  status      print lag and row counts once; exit 3 while the pipeline is stalled
  healthcheck ask a running process's /readyz (container health checks)
  broker      run only the local Kafka broker (kfake)
  dashboard   serve the dashboard and the read-only JSON API on DASHBOARD_ADDR
  verify      recompute the marts from the vault and compare them with the
              marts and counters, check for orphans (exit 1: differences)
  version     print the version, commit, Go version and platform (also --version)

Every setting comes from the environment; see the README's table.
Run 'orderflow <command> -h' for a command's flags.

Exit status: 0 done, 1 failed, 2 usage or configuration error (nothing was
started), and a command's own (status: 3 stalled).
`

func main() {
	err := run(os.Args[1:], os.Stdout)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		reportFatal(os.Stderr, os.Args[1:], err)
	}
	os.Exit(exitStatus(err))
}

var commands = map[string]func(ctx context.Context, env *env, args []string) error{
	"dev":         cmdDev,
	"worker":      cmdWorker,
	"migrate":     cmdMigrate,
	"schedule":    cmdSchedule,
	"rewind":      cmdRewind,
	"backfill":    cmdBackfill,
	"reprocess":   cmdReprocess,
	"simulate":    cmdSimulate,
	"status":      cmdStatus,
	"healthcheck": cmdHealthcheck,
	"broker":      cmdBroker,
	"dashboard":   cmdDashboard,
	"verify":      cmdVerify,
	"version":     cmdVersion,
}

// needsNoConfig lists the commands that run whatever the environment holds.
var needsNoConfig = map[string]bool{"version": true}

// env is what every command gets: the configuration, a logger and where to print.
type env struct {
	cfg config.Config
	log *slog.Logger
	out io.Writer
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(out, usage)
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return &usageError{err: fmt.Errorf("unknown command %q", args[0])}
	}
	cfg, err := config.FromEnv()
	if err != nil && !needsNoConfig[args[0]] {
		// A bad setting (say LOG_LEVEL=loud) stops every command before it dials.
		return &exitError{exitUsage, err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(cfg, os.Stderr)
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	return cmd(ctx, &env{cfg: cfg, log: log, out: out}, args[1:])
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// versionLine is what `orderflow version` prints.
func versionLine() string {
	version, commit := buildinfo.Get()
	return fmt.Sprintf("orderflow %s (commit %s) %s %s/%s", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := flags("version", "version\n\nPrints the version and commit the binary was built from, its Go version and platform.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.out, versionLine())
	return nil
}

// reportFatal prints run's error once on w: as `orderflow: <error>` (and the
// usage hint of a usage error), or with LOG_FORMAT=json as one JSON log
// record (level ERROR, msg, error, exit_status).
func reportFatal(w io.Writer, args []string, err error) {
	hint := ""
	var ue *usageError
	if errors.As(err, &ue) {
		hint = ue.hint()
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("LOG_FORMAT")), "json") {
		msg := "orderflow failed"
		if len(args) > 0 && commands[args[0]] != nil {
			msg = "orderflow " + args[0] + " failed"
		}
		attrs := []any{slog.String("error", err.Error()), slog.Int("exit_status", exitStatus(err))}
		if hint != "" {
			attrs = append(attrs, slog.String("hint", hint))
		}
		slog.New(slog.NewJSONHandler(w, nil)).Error(msg, attrs...)
		return
	}
	fmt.Fprintln(w, "orderflow:", err)
	if hint != "" {
		fmt.Fprintln(w, hint)
	}
}

// redisLogger takes go-redis's own log lines (e.g. "connection pool: failed
// to dial after 5 attempts"), which go to stderr as plain text otherwise, to
// the process's logger at debug level: what they report reaches the caller as
// an error too (a failed Ping, a failed command), which is reported once.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Log(ctx, slog.LevelDebug, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
