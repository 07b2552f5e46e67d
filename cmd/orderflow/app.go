package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/workers"
)

// The long-running commands (worker, dashboard, dev) are fx apps: their
// constructors build clients and components without dialling anything,
// and every dial, migration and listen runs in a start hook with the start's
// context, so the start timeout and Ctrl-C cancel it. runApp runs one.

// runApp starts app (startApp), runs it until ctx ends (Ctrl-C, SIGTERM) or
// a component shuts the app down (a dashboard that fails, dev's Temporal
// server that exits), then stops it within its stop timeout. started, when
// not nil, is called once the app has started.
func runApp(ctx context.Context, app *fx.App, started func()) error {
	if err := startApp(ctx, app); err != nil {
		return err
	}
	if started != nil {
		started()
	}
	code := 0
	select {
	case <-ctx.Done():
	case sig := <-app.Wait():
		code = sig.ExitCode
	}
	sctx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel()
	if err := app.Stop(sctx); err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code, errComponentFailed}
	}
	return nil
}

// errComponentFailed is runApp's error when a component stopped the app
// with a failure, which it logged.
var errComponentFailed = errors.New("stopped: a component failed (see the log above)")

// startApp starts app within its start timeout. fx wraps a constructor's
// error in its own layers ("could not build arguments for function …
// failed to build … received non-nil error from function …"); the error
// returned is the constructor's or the start hook's own, e.g. "redis at
// 127.0.0.1:6379 is unreachable: …". fx does not log it (the apps log fx's
// events at debug level): main prints it, once.
func startApp(ctx context.Context, app *fx.App) error {
	ctx, cancel := context.WithTimeout(ctx, app.StartTimeout())
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return dig.RootCause(err)
	}
	return nil
}

// fail logs why a component stopped and shuts the app down with exit
// status 1 (runApp returns errComponentFailed).
func fail(sd fx.Shutdowner, log *slog.Logger, msg string, err error) {
	log.Error(msg, "err", err)
	if serr := sd.Shutdown(fx.ExitCode(exitFailed)); serr != nil {
		log.Error("shut down", "err", serr)
	}
}

// cmdWorker runs the Temporal workers of WORKER_ROLES (workers.App) until
// Ctrl-C or SIGTERM; running activities then get WORKER_STOP_TIMEOUT to
// finish (workers.App sets the stop timeout above it).
func cmdWorker(ctx context.Context, e *env, args []string) error {
	faults, err := parseWorkerFlags(e, flags("worker", "worker   (roles from WORKER_ROLES)"), args)
	if err != nil {
		return err
	}
	return runApp(ctx, workers.App(e.cfg, e.log, faults), nil)
}

// parseWorkerFlags parses the flags of a command that runs workers (worker,
// dev: none but -h) and returns the fault options for the workers' app
// (faultOptions).
func parseWorkerFlags(e *env, fs *flag.FlagSet, args []string) (fx.Option, error) {
	if err := parseFlags(e, fs, args); err != nil {
		return nil, err
	}
	return faultOptions()
}
