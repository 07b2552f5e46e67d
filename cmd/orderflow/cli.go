package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/internal/buildinfo"
)

// parseFlags parses a command's flags, and is the first thing every command
// does, before it opens any connection. -h, -help or --help prints the usage
// to e.out and returns flag.ErrHelp (exit status 0). An unknown flag, a
// malformed value or an argument left after the flags is a usageError (exit
// status 2); nothing is printed for it here: main prints it with a hint.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(e.out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return flag.ErrHelp
	case err != nil:
		return &usageError{cmd: fs.Name(), err: err}
	case fs.NArg() > 0:
		return usagef(fs, "%w %q", errUnexpectedArg, fs.Arg(0))
	}
	return nil
}

// errUnexpectedArg is parseFlags's error for an argument after the flags.
var errUnexpectedArg = errors.New("unexpected argument")

// isHelp tells whether arg asks for help rather than being a command's word.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
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

// startApp starts a worker process's fx app. fx wraps a constructor's error
// in its own layers ("could not build arguments for function … failed to
// build … received non-nil error from function …"); the error returned is
// the constructor's own, e.g. "redis at 127.0.0.1:6379 is unreachable: …".
// fx does not log it (workers.App logs fx's events at debug level): main
// prints it, once.
func startApp(ctx context.Context, app *fx.App) error {
	if err := app.Start(ctx); err != nil {
		return dig.RootCause(err)
	}
	return nil
}
