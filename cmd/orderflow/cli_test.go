package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv"
)

// buildOrderflow builds the binary with a stamped version and commit.
func buildOrderflow(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orderflow")
	const pkg = "github.com/orderflow/orderflow/internal/buildinfo"
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), //nolint:staticcheck // SA1019: the go running this test builds the binary
		"build", "-o", bin,
		"-ldflags", "-X "+pkg+".Version=v9.9.9 -X "+pkg+".Commit=abc123", ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the binary with env added to the test's environment, for at
// most 10 s.
func runBin(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("orderflow %s: still running after 10 s (it dialled?)\nstderr: %s", strings.Join(args, " "), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("orderflow %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// unreachable points every backing service at a closed port.
func unreachable(t *testing.T) []string {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	return []string{
		"TEMPORAL_ADDRESS=" + addr,
		"PG_DSN=postgres://postgres@" + addr + "/none?sslmode=disable&connect_timeout=2",
		"KAFKA_BROKERS=" + addr,
		"REDIS_ADDR=" + addr,
		"HEALTH_ADDR=127.0.0.1:0",
		"DASHBOARD_ADDR=127.0.0.1:0",
		"LOG_LEVEL=info",
		"LOG_FORMAT=text",
	}
}

// TestCLIConventions runs the built binary: version, -h of every command,
// usage and configuration errors (exit 2, before any dial: every service is
// at a closed port).
func TestCLIConventions(t *testing.T) {
	bin := buildOrderflow(t)
	env := unreachable(t)

	t.Run("version", func(t *testing.T) {
		for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
			// It needs no valid settings.
			r := runBin(t, bin, append(slices.Clone(env), "LOG_LEVEL=loud"), args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("orderflow %s: exit %d, stderr %q", args[0], r.code, r.stderr)
			}
			for _, want := range []string{"v9.9.9", "abc123", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("orderflow %s printed %q, which lacks %q", args[0], r.stdout, want)
				}
			}
		}
	})

	t.Run("help", func(t *testing.T) {
		var names []string
		for name := range commands {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			for _, h := range []string{"-h", "--help"} {
				r := runBin(t, bin, env, name, h)
				if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: orderflow "+name) || r.stderr != "" {
					t.Errorf("orderflow %s %s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", name, h, r.code, r.stdout, r.stderr)
				}
			}
			// An unknown flag is a usage error for every command.
			r := runBin(t, bin, env, name, "-no-such-flag")
			if r.code != 2 || !strings.Contains(r.stderr, "flag provided but not defined: -no-such-flag") {
				t.Errorf("orderflow %s -no-such-flag: exit %d, stderr %q; want 2", name, r.code, r.stderr)
			}
		}
		if r := runBin(t, bin, env, "--help"); r.code != 0 || !strings.Contains(r.stdout, "\n  version ") {
			t.Errorf("orderflow --help: exit %d, stdout %q", r.code, r.stdout)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"frobnicate"}, `unknown command "frobnicate"`},
			{[]string{"schedule"}, "schedule: which action?"},
			{[]string{"schedule", "bogus"}, `schedule: unknown action "bogus"`},
			{[]string{"schedule", "pause", "now"}, `schedule: unexpected argument "now"`},
			{[]string{"schedule", "-note", "x", "pause"}, "schedule: the action"},
			{[]string{"rewind"}, "rewind: give either -offset N or -time T"},
			{[]string{"rewind", "-offset", "1", "-time", "2026-01-01T00:00:00Z"}, "rewind: give either"},
			{[]string{"rewind", "-offset", "-2"}, "rewind: -offset -2: offsets start at 0"},
			{[]string{"rewind", "-time", "yesterday"}, "rewind: -time: "},
			{[]string{"rewind", "-offset", "many"}, `invalid value "many" for flag -offset`},
			{[]string{"rewind", "-pause", "-wait", "0s", "-offset", "0"}, "rewind: -wait 0s: must be positive"},
			{[]string{"backfill"}, "backfill: -from is required"},
			{[]string{"backfill", "-from", "noon"}, "backfill: -from: "},
			{[]string{"backfill", "-from", "2026-01-01T00:00:00Z", "-overlap", "Sometimes"}, `backfill: -overlap "Sometimes"`},
			{[]string{"backfill", "-from", "2026-01-02T00:00:00Z", "-to", "2026-01-01T00:00:00Z"}, "is not before -to"},
			{[]string{"reprocess"}, "reprocess: -reason is required"},
			{[]string{"reprocess", "-reason", "malformed_json"}, `reprocess: -reason "malformed_json"`},
			{[]string{"status", "extra"}, `status: unexpected argument "extra"`},
			{[]string{"verify", "extra"}, `verify: unexpected argument "extra"`},
			{[]string{"worker", "stg"}, `worker: unexpected argument "stg"`},
			{[]string{"migrate", "now"}, `migrate: unexpected argument "now"`},
			{[]string{"simulate", "-history", "-1"}, "simulate: -history and -per-minute must not be negative"},
			{[]string{"dashboard", "-addr"}, "flag needs an argument: -addr"},
			{[]string{"healthcheck", "-timeout", "0s"}, "healthcheck: -timeout 0s: must be positive"},
			{[]string{"version", "extra"}, `version: unexpected argument "extra"`},
		} {
			r := runBin(t, bin, env, c.args...)
			if r.code != 2 || strings.Count(r.stderr, c.want) != 1 || !strings.Contains(r.stderr, "Run 'orderflow ") || r.stdout != "" {
				t.Errorf("orderflow %s: exit %d, stdout %q, stderr %q; want exit 2 and %q once", strings.Join(c.args, " "), r.code, r.stdout, r.stderr, c.want)
			}
		}
	})

	t.Run("bad settings", func(t *testing.T) {
		for _, kv := range []string{"LOG_LEVEL=loud", "LOG_FORMAT=yaml"} {
			key, _, _ := strings.Cut(kv, "=")
			for _, cmd := range []string{"status", "worker"} {
				r := runBin(t, bin, append(slices.Clone(env), kv), cmd)
				if r.code != 2 || !strings.Contains(r.stderr, key) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("%s orderflow %s: exit %d, stderr %q; want 2 and one line naming %s", kv, cmd, r.code, r.stderr, key)
				}
			}
		}
	})
}

// TestWorkerStartFailurePrintsOnce: a worker whose PostgreSQL or Redis is
// unreachable prints the error once, as `orderflow: <error>` or, with
// LOG_FORMAT=json, as one JSON record; every other service is real.
func TestWorkerStartFailurePrintsOnce(t *testing.T) {
	bin := buildOrderflow(t)
	cfg := testenv.Config(t, 1)
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

	t.Run("text, PostgreSQL unreachable", func(t *testing.T) {
		env := append(cfg.Environ(), "LOG_FORMAT=text", "LOG_LEVEL=info",
			"PG_DSN=postgres://postgres@"+closed+"/none?sslmode=disable&connect_timeout=2")
		r := runBin(t, bin, env, "worker")
		var fatal []string
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if strings.HasPrefix(line, "orderflow: ") {
				fatal = append(fatal, strings.TrimPrefix(line, "orderflow: "))
			}
		}
		if r.code != 1 || len(fatal) != 1 || !strings.Contains(fatal[0], closed) {
			t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and one line `orderflow: <error>` naming %s", r.code, r.stderr, closed)
		}
		if n := strings.Count(r.stderr, fatal[0]); n != 1 || strings.Contains(fatal[0], "could not build arguments") {
			t.Errorf("the error appears %d times, want once and without fx's wrapping:\n%s", n, r.stderr)
		}
	})

	t.Run("json, Redis unreachable", func(t *testing.T) {
		// The workers need a migrated warehouse to get as far as Redis.
		testenv.Migrate(t, cfg.PGDSN)
		env := append(cfg.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info", "REDIS_ADDR="+closed)
		r := runBin(t, bin, env, "worker")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		var last map[string]any
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			last = nil
			if err := json.Unmarshal([]byte(line), &last); err != nil {
				t.Fatalf("stderr line %q is not JSON: %v", line, err)
			}
		}
		msg, _ := last["error"].(string)
		if last["level"] != "ERROR" || last["msg"] != "orderflow worker failed" || !strings.Contains(msg, "redis at "+closed+" is unreachable") {
			t.Fatalf("last record %v, want level ERROR, msg, and the error naming redis at %s", last, closed)
		}
		if n := strings.Count(r.stderr, "is unreachable"); n != 1 {
			t.Errorf("the error appears %d times, want once:\n%s", n, r.stderr)
		}
	})
}
