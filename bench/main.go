// Command bench measures orderflow end to end on the local stack: how fast
// the week of history drains, where each batch's time goes (per activity and
// in Temporal's orchestration), what the worker process costs in CPU and
// memory, the latency of the live stream, and sharding.
//
// Every scenario gets a fresh in-process kfake broker, a fresh PostgreSQL
// database and its own topics, consumer group, task queues and schedule; the
// Temporal dev server (bin/temporal, eager activities on) is shared. The
// workers run as a separate process (bin/orderflow worker, built first) so
// their CPU time and peak RSS can be read from /proc. PostgreSQL and Redis
// must already run (make services).
//
//	go run ./bench                                   # everything (make bench)
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
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/orderflow/orderflow/config"
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

// options are the command-line flags.
type options struct {
	scenarios      map[string]bool
	ns             []int
	sweep          []int
	sweepN         int
	shardsN        int
	shards         int
	partitions     int
	steadyInterval time.Duration
	steadyEvery    time.Duration
	steadyFor      time.Duration
	idleWindow     time.Duration
	drainTimeout   time.Duration
	quietWait      time.Duration
	quietBelow     float64
	commit         string
	seed           int64
	pgDSN          string
	redisAddr      string
	bin            string
	build          bool
	out            string
	doc            string
	from           string
	quick          bool
	apiN           int
	apiDrainN      int
	apiClients     int
	apiFor         time.Duration
	apiRepeat      int
	apiDrainRate   int
}

var allScenarios = []string{"drain", "sweep", "steady", "shards", "api"}

// defaultScenarios run without -scenarios; api (about 3.5 minutes) runs
// only when named: -scenarios api, or make bench BENCH_FLAGS=-scenarios=drain,sweep,steady,shards,api.
var defaultScenarios = []string{"drain", "sweep", "steady", "shards"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","), "which scenarios to run: "+strings.Join(allScenarios, ","))
	ns := fs.String("n", "10000,50000,200000", "orders of history per drain run")
	sweep := fs.String("sweep", "1000,5000,10000,20000", "DRAIN_BATCH_SIZE values of the sweep")
	fs.IntVar(&o.sweepN, "sweep-n", 50000, "orders of history for each sweep point")
	fs.IntVar(&o.shardsN, "shards-n", 50000, "orders of history for the sharded run")
	fs.IntVar(&o.shards, "shards", 2, "SHARDS of the sharded run")
	fs.IntVar(&o.partitions, "partitions", 4, "KAFKA_PARTITIONS of the sharded run")
	fs.DurationVar(&o.steadyInterval, "steady-interval", 5*time.Second, "SCHEDULE_INTERVAL of the steady state")
	fs.DurationVar(&o.steadyEvery, "steady-every", time.Second, "one live order every this long")
	fs.DurationVar(&o.steadyFor, "steady-for", 90*time.Second, "how long live orders are produced")
	fs.DurationVar(&o.idleWindow, "idle-window", 30*time.Second, "window the idle worker's CPU is measured over")
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
	fs.IntVar(&o.apiN, "api-n", 50000, "api: orders of history in the warehouse the read API serves")
	fs.IntVar(&o.apiDrainN, "api-drain-n", 20000, "api: orders of each drain timed with and without API load")
	fs.IntVar(&o.apiClients, "api-clients", 50, "api: concurrent HTTP clients (keep-alive)")
	fs.DurationVar(&o.apiFor, "api-for", 5*time.Second, "api: load time per endpoint")
	fs.IntVar(&o.apiRepeat, "api-repeat", 3, "api: drains of each kind (alone, unthrottled load, paced load); the median is reported")
	fs.IntVar(&o.apiDrainRate, "api-drain-rate", 2000, "api: requests per second of the paced load during a drain (0: no paced drains)")
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
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if o.quick {
		quick := map[string]func(){
			"n":           func() { *ns = "10000" },
			"sweep":       func() { *sweep = "1000" },
			"sweep-n":     func() { o.sweepN = 10000 },
			"shards-n":    func() { o.shardsN = 10000 },
			"steady-for":  func() { o.steadyFor = 30 * time.Second },
			"idle-window": func() { o.idleWindow = 10 * time.Second },
			"api-n":       func() { o.apiN = 10000 },
			"api-drain-n": func() { o.apiDrainN = 5000 },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	o.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !contains(allScenarios, s) {
			return o, fmt.Errorf("-scenarios: unknown %q (want %s)", s, strings.Join(allScenarios, ","))
		}
		o.scenarios[s] = true
	}
	var err error
	if o.ns, err = intList(*ns); err != nil {
		return o, fmt.Errorf("-n: %w", err)
	}
	if o.sweep, err = intList(*sweep); err != nil {
		return o, fmt.Errorf("-sweep: %w", err)
	}
	if o.steadyEvery <= 0 || o.steadyInterval <= 0 || o.idleWindow <= 0 {
		return o, fmt.Errorf("-steady-every, -steady-interval and -idle-window must be positive")
	}
	if o.apiN < 1 || o.apiDrainN < 1 || o.apiClients < 1 || o.apiFor <= 0 || o.apiRepeat < 1 {
		return o, fmt.Errorf("-api-n, -api-drain-n, -api-clients, -api-for and -api-repeat must be positive")
	}
	return o, nil
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
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	o.bin, o.out, o.doc, o.from = abs(o.bin), abs(o.out), abs(o.doc), abs(o.from)
	if o.from != "" {
		return render(o)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res := Results{Command: "go run ./bench " + strings.Join(args, " "), Started: time.Now(), Quick: o.quick}
	res.Command = strings.TrimSpace(res.Command)
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

	s, err := startSuite(ctx, o, log)
	if err != nil {
		return err
	}
	defer s.close()
	res.LogDir = s.logDir
	log.Info("logs", "dir", s.logDir)
	b := &bench{s: s, o: o, drain: map[drainSpec]DrainResult{}}
	// The drains and the sharded run use the product's defaults (BATCH_SIZE,
	// DRAIN_BATCH_SIZE), so the headline numbers are what a user gets.
	defaults, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	def := func(n int) drainSpec {
		return drainSpec{Orders: n, BatchSize: defaults.Pipeline.BatchSize, DrainBatchSize: defaults.Pipeline.DrainBatchSize, Shards: 1, Partitions: 1}
	}

	if o.scenarios["drain"] {
		for _, n := range o.ns {
			if ctx.Err() == nil {
				res.Drain = append(res.Drain, b.runDrain(ctx, def(n)))
			}
		}
	}
	if o.scenarios["sweep"] {
		for _, size := range o.sweep {
			if ctx.Err() == nil {
				spec := def(o.sweepN)
				spec.DrainBatchSize = size
				res.Sweep = append(res.Sweep, b.runDrain(ctx, spec))
			}
		}
	}
	if o.scenarios["steady"] && ctx.Err() == nil {
		st := b.runSteady(ctx)
		res.Steady = &st
	}
	if o.scenarios["shards"] && ctx.Err() == nil {
		res.Shards = append(res.Shards, b.runDrain(ctx, def(o.shardsN)))
		sharded := def(o.shardsN)
		sharded.Shards, sharded.Partitions = o.shards, o.partitions
		if ctx.Err() == nil {
			res.Shards = append(res.Shards, b.runDrain(ctx, sharded))
		}
	}
	if o.scenarios["api"] && ctx.Err() == nil {
		a := b.runAPI(ctx)
		res.API = &a
	}
	res.DurationS = time.Since(res.Started).Seconds()
	res.Targets = evaluateTargets(res)
	res.Problems, res.Warnings = problems(res)
	if ctx.Err() != nil {
		res.Problems = append(res.Problems, "interrupted: "+ctx.Err().Error())
	}
	if ctx.Err() != nil || allFailed(res) {
		// Keep the last good results and doc; this run goes beside them.
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

// allFailed reports whether no scenario produced a measurement.
func allFailed(r Results) bool {
	for _, d := range slices.Concat(r.Drain, r.Sweep, r.Shards) {
		if d.Error == "" {
			return false
		}
	}
	if r.API != nil && r.API.Error == "" {
		return false
	}
	return r.Steady == nil || r.Steady.Error != ""
}

// output prints the tables and writes the JSON and the doc.
func output(o options, res Results) error {
	fmt.Print(res.Text())
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
		if err := updateDoc(o.doc, res.Markdown()); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "tables written to %s\n", o.doc)
	}
	return nil
}

// render is -from: the tables and the doc from an earlier results file.
func render(o options) error {
	b, err := os.ReadFile(o.from)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", o.from, err)
	}
	o.out = ""
	res.Targets = evaluateTargets(res) // with today's definitions
	interrupted := slices.ContainsFunc(res.Problems, func(p string) bool { return strings.HasPrefix(p, "interrupted") })
	res.Problems, res.Warnings = problems(res)
	if interrupted {
		res.Problems = append(res.Problems, "interrupted")
	}
	return output(o, res)
}

// describeMachine gathers what the numbers depend on; what cannot be read is left empty.
func describeMachine(ctx context.Context, o options, root string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				fields := strings.Fields(rest)
				if kb, err := strconv.ParseFloat(fields[0], 64); err == nil {
					m.MemoryGiB = kb / (1 << 20)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(cctx, o.pgDSN); err == nil {
		var v string
		if conn.QueryRow(cctx, "SHOW server_version").Scan(&v) == nil {
			m.PostgreSQL = "PostgreSQL " + strings.Fields(v)[0]
		}
		conn.Close(cctx)
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr})
	if info, err := rdb.Info(cctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	rdb.Close()
	if bin, err := devstack.TemporalBin(); err == nil {
		if out, err := exec.CommandContext(cctx, bin, "--version").Output(); err == nil {
			m.TemporalCLI = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	git := func(args ...string) string {
		cmd := exec.CommandContext(cctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if o.commit != "" {
		m.Commit = o.commit
		return m
	}
	m.Commit = git("rev-parse", "--short", "HEAD")
	if git("status", "--porcelain", "--untracked-files=no") != "" {
		m.Commit += " (with uncommitted changes)"
	}
	return m
}

func intList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.ReplaceAll(part, "_", ""))
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", part)
		}
		out = append(out, n)
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
