// Command bench measures orderflow end to end on the local stack: how fast
// the week of history drains, where each batch's time goes (per activity and
// in Temporal's orchestration), what the worker process costs in CPU and
// memory, the latency of the live stream, sharding and the read API.
//
// Every scenario gets a fresh in-process kfake broker, a fresh PostgreSQL
// database and its own topics, consumer group, task queues and schedule; the
// Temporal dev server (bin/temporal, eager activities on) is shared. The
// workers run as a separate process (bin/orderflow worker, built first) so
// their CPU time and peak RSS can be read from /proc. PostgreSQL and Redis
// must already run (make services).
//
//	go run ./bench                                   # drain, sweep, steady, shards (make bench)
//	go run ./bench -quick                            # N=10,000 only, one sweep point, short steady state
//	go run ./bench -scenarios drain -n 50000         # one drain
//	go run ./bench -scenarios api                    # the read API under load, and a drain beside it (~3.5 min)
//	go run ./bench -from bench/results.json -doc docs/BENCHMARKS.md   # re-render only
//
// The tables go to stdout, progress to stderr, every number to -out
// (bench/results.json); with -doc the generated part of that Markdown file
// is replaced. Targets are printed as pass/miss and never fail the run; a
// scenario that fails or marts that disagree with the simulator's oracle do
// (exit status 1, after writing the results).
//
// A scenario is one file: an init function that registers it (its flags,
// how it runs, its tables, targets and problems); see scenario.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/devstack"
)

// scenario is one measurement; each registers itself from its file's init.
type scenario struct {
	name  string
	order int  // its place in the run and in the report
	optIn bool // runs only when -scenarios names it
	// flags adds its own flags; quick sets some of them under -quick
	// (unless given); positive names those that must be above 0.
	flags    func(fs *flag.FlagSet)
	quick    map[string]string
	positive []string
	// run measures into r and reports whether anything was measured.
	run func(ctx context.Context, b *bench, r *Results) bool
	// tables, targets and check render and judge r (also from a results
	// file, so without the scenario's own measurements too).
	tables  func(r Results) []table
	targets func(r Results) []Target
	check   func(r Results) (problems, warnings []string)
}

var registry []scenario

func register(s scenario) {
	registry = append(registry, s)
	slices.SortStableFunc(registry, func(a, b scenario) int { return a.order - b.order })
}

// options are the flags every scenario shares.
type options struct {
	scenarios                     map[string]bool
	drainTimeout, quietWait       time.Duration
	quietBelow                    float64
	seed                          int64
	commit, pgDSN, redisAddr, bin string
	out, doc, from                string
	build, quick                  bool
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string) (o options, err error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var all, def []string
	for _, s := range registry {
		if all = append(all, s.name); !s.optIn {
			def = append(def, s.name)
		}
		if s.flags != nil {
			s.flags(fs)
		}
	}
	scen := fs.String("scenarios", strings.Join(def, ","), "which scenarios to run: "+strings.Join(all, ","))
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 2*time.Minute, "a drain fails after this plus 2 ms per order")
	fs.DurationVar(&o.quietWait, "quiet-wait", 0, "before each trigger, wait up to this long for the machine to be less busy than -quiet-below (a shared machine)")
	fs.Float64Var(&o.quietBelow, "quiet-below", 0.25, "busy share of the machine (0-1) that counts as quiet for -quiet-wait")
	fs.StringVar(&o.commit, "commit", "", "describe the measured code as this instead of the repository's git state (with -bin built elsewhere)")
	fs.Int64Var(&o.seed, "seed", 42, "simulator seed")
	fs.StringVar(&o.pgDSN, "pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a URL) to create the scenario databases on")
	fs.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address")
	fs.StringVar(&o.bin, "bin", "bin/orderflow", "the orderflow binary (relative to the repository root)")
	fs.BoolVar(&o.build, "build", true, "go build -o <bin> ./cmd/orderflow first")
	fs.StringVar(&o.out, "out", "bench/results.json", "write the results here (relative to the repository root; empty: nowhere)")
	fs.StringVar(&o.doc, "doc", "", "replace the generated block of this Markdown file (e.g. docs/BENCHMARKS.md)")
	fs.StringVar(&o.from, "from", "", "run nothing: render the tables (and -doc) from this results file")
	fs.BoolVar(&o.quick, "quick", false, "N=10,000 only, one sweep point (1,000), a 30 s steady state with a 10 s idle window")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench [flags]\n\nMeasures orderflow on the local stack (see the package comment).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	o.scenarios = map[string]bool{}
	for _, name := range strings.Split(*scen, ",") {
		if name = strings.TrimSpace(name); name != "" && !slices.Contains(all, name) {
			return o, fmt.Errorf("-scenarios: unknown %q (want %s)", name, strings.Join(all, ","))
		}
		o.scenarios[name] = true
	}
	for _, s := range registry {
		for name, v := range s.quick {
			if o.quick && !given[name] {
				_ = fs.Set(name, v)
			}
		}
		for _, name := range s.positive {
			if !positive(fs.Lookup(name).Value.String()) {
				return o, fmt.Errorf("-%s must be positive", name)
			}
		}
	}
	return o, nil
}

// positive reports whether a flag's value, a duration or a whole number, is above 0.
func positive(v string) bool {
	if d, err := time.ParseDuration(v); err == nil {
		return d > 0
	}
	n, err := strconv.Atoi(v)
	return err == nil && n > 0
}

// ints is a flag of comma-separated positive whole numbers.
type ints []int

func (v *ints) String() string {
	return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(*v)), ","), "[]")
}

func (v *ints) Set(s string) error {
	*v = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(strings.ReplaceAll(part, "_", "")); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number", part)
		}
		*v = append(*v, n)
	}
	return nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	root, err := devstack.FindRepoRoot()
	if err != nil {
		return err
	}
	for _, p := range []*string{&o.bin, &o.out, &o.doc, &o.from} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
	if o.from != "" { // render an earlier results file, judged by today's definitions
		var res Results
		b, err := os.ReadFile(o.from)
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			return fmt.Errorf("-from: %w", err)
		}
		interrupted := slices.ContainsFunc(res.Problems, func(p string) bool { return strings.HasPrefix(p, "interrupted") })
		if judge(&res); interrupted {
			res.Problems = append(res.Problems, "interrupted")
		}
		o.out = ""
		return output(o, res)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	res := Results{Command: strings.TrimSpace("go run ./bench " + strings.Join(args, " ")), Started: time.Now(), Quick: o.quick}
	if os.Getenv("MAKELEVEL") != "" { // run by make: say so, the flags follow
		res.Command = "make bench: " + res.Command
	}
	if o.build {
		log.Info("building", "bin", o.bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "./cmd/orderflow")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/orderflow: %w", err)
		}
	}
	res.Machine = describeMachine(ctx, o, root)
	b, err := startBench(ctx, o, log)
	if err != nil {
		return err
	}
	defer b.close()
	res.LogDir = b.logDir
	log.Info("logs", "dir", b.logDir)
	measured := false
	for _, s := range registry {
		if o.scenarios[s.name] && ctx.Err() == nil {
			measured = s.run(ctx, b, &res) || measured
		}
	}
	res.DurationS = time.Since(res.Started).Seconds()
	judge(&res)
	if ctx.Err() != nil {
		res.Problems = append(res.Problems, "interrupted: "+ctx.Err().Error())
	}
	if ctx.Err() != nil || !measured { // keep the last good results and doc; this run goes beside them
		if o.out != "" {
			o.out = strings.TrimSuffix(o.out, ".json") + ".failed.json"
		}
		if o.doc != "" {
			fmt.Fprintf(os.Stderr, "not updating %s: the run was interrupted or every scenario failed\n", o.doc)
			o.doc = ""
		}
	}
	if err := output(o, res); err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d problem(s), listed above", len(res.Problems))
	}
	return nil
}

// output prints the tables and writes the JSON and the doc.
func output(o options, res Results) error {
	fmt.Print(res.report(true))
	if o.out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "results written to %s\n", o.out)
	}
	if o.doc != "" {
		if err := updateDoc(o.doc, res.report(false)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "tables written to %s\n", o.doc)
	}
	return nil
}

// describeMachine gathers what the numbers depend on; what cannot be read is left empty.
func describeMachine(ctx context.Context, o options, root string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Commit: o.commit}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	read := func(path, key string) string {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	m.CPUModel = read("/proc/cpuinfo", "model name")
	kb, _ := strconv.ParseFloat(strings.TrimSuffix(read("/proc/meminfo", "MemTotal"), " kB"), 64)
	m.MemoryGiB = kb / (1 << 20)
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if conn, err := pgx.Connect(ctx, o.pgDSN); err == nil {
		var v string
		if conn.QueryRow(ctx, "SHOW server_version").Scan(&v) == nil {
			m.PostgreSQL = "PostgreSQL " + strings.Fields(v)[0]
		}
		// The settings docs/DEPLOY.md asks of a production server.
		var sb, wal, ckpt, comp string
		if conn.QueryRow(ctx, `SELECT current_setting('shared_buffers'), current_setting('max_wal_size'),
			current_setting('checkpoint_timeout'), current_setting('wal_compression')`).Scan(&sb, &wal, &ckpt, &comp) == nil {
			m.PostgreSQL += fmt.Sprintf(" (shared_buffers %s, max_wal_size %s, checkpoint_timeout %s, wal_compression %s)", sb, wal, ckpt, comp)
		}
		conn.Close(ctx)
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr})
	info, _ := rdb.Info(ctx, "server").Result()
	rdb.Close()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			m.Redis = v
		}
	}
	command := func(dir, name string, args ...string) string {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		out, _ := cmd.Output()
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if bin, err := devstack.TemporalBin(); err == nil {
		m.TemporalCLI = command(root, bin, "--version")
	}
	if m.Commit == "" {
		m.Commit = command(root, "git", "rev-parse", "--short", "HEAD")
		if command(root, "git", "status", "--porcelain", "--untracked-files=no") != "" {
			m.Commit += " (with uncommitted changes)"
		}
	}
	return m
}
