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
	"strings"
	"syscall"

	"github.com/orderflow/orderflow/config"
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
  status      print lag and row counts once; exit 3 while the pipeline is stalled; exit 3 while the pipeline is stalled
  healthcheck ask a running process's /readyz (container health checks)
  broker      run only the local Kafka broker (kfake)
  dashboard   serve the dashboard and the read-only JSON API on DASHBOARD_ADDR
  verify      recompute the marts from the vault and compare them with the
              marts and counters, check for orphans (exit 1: differences)

Every setting comes from the environment; see the README's table.
Run 'orderflow <command> -h' for a command's flags.
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "orderflow:", err)
		}
		os.Exit(exitStatus(err))
	}
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
}

// env is what every command gets: the configuration, a logger and where to print.
type env struct {
	cfg config.Config
	log *slog.Logger
	out io.Writer
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, usage)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd(ctx, &env{cfg: cfg, log: newLogger(cfg, os.Stderr), out: out}, args[1:])
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

// flags builds a command's flag set with a usage line.
func flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orderflow %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
