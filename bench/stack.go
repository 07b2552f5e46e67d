package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
)

// suite is what every scenario of one bench invocation shares: the worker
// binary, one Temporal dev server (in memory), and the addresses of
// PostgreSQL and Redis, which already run.
type suite struct {
	opts        options
	log         *slog.Logger
	logDir      string // worker and Temporal logs
	temporal    *devstack.TemporalServer
	temporalPID int
	tc          client.Client
}

// startSuite starts the Temporal dev server and dials it.
func startSuite(ctx context.Context, o options, log *slog.Logger) (*suite, error) {
	s := &suite{opts: o, log: log}
	dir, err := os.MkdirTemp("", "orderflow-bench-")
	if err != nil {
		return nil, err
	}
	s.logDir = dir
	bin, err := devstack.TemporalBin()
	if err != nil {
		return nil, err
	}
	tlogFile, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		return nil, err
	}
	log.Info("starting the Temporal dev server", "log", tlogFile.Name())
	ts, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Bin: bin, Log: tlogFile})
	if err != nil {
		tlogFile.Close()
		return nil, err
	}
	s.temporal = ts
	s.temporalPID = childPID(os.Getpid(), "temporal")
	s.tc, err = client.Dial(client.Options{
		HostPort: ts.Addr(),
		Logger:   tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		_ = ts.Stop()
		return nil, fmt.Errorf("dial temporal at %s: %w", ts.Addr(), err)
	}
	return s, nil
}

// close stops the Temporal server.
func (s *suite) close() {
	if s.tc != nil {
		s.tc.Close()
	}
	if s.temporal != nil {
		if err := s.temporal.Stop(); err != nil {
			s.log.Warn("temporal dev server", "err", err)
		}
	}
}

// stack is one scenario's isolated pipeline: its own broker (in memory),
// database, topics, consumer group, task queues and schedule id, and the
// worker process once started.
type stack struct {
	s       *suite
	name    string
	cfg     config.Config
	broker  *kfake.Cluster
	dbName  string
	adminPG string
	kcl     *kgo.Client
	adm     *kadm.Client
	rdb     *redis.Client
	pool    *pgxpool.Pool // once the worker has started
	worker  *workerProc
	refKeys []string // Redis keys to delete at the end
}

// newStack builds scenario name's configuration (defaults, then tune),
// starts its broker and creates its database.
func (s *suite) newStack(ctx context.Context, name string, tune func(*config.Config)) (st *stack, err error) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	suffix := name + "-" + randomHex(4)
	cfg.Kafka.InputTopic = "order-service_orders-" + suffix
	cfg.Kafka.StgTopic = "stg-service-orders-" + suffix
	cfg.Kafka.DdsTopic = "dds-service-orders-" + suffix
	cfg.Kafka.Group = "orderflow-" + suffix
	cfg.Temporal.Address = s.temporal.Addr()
	cfg.Temporal.TaskQueuePrefix = "orderflow-" + suffix
	cfg.Pipeline.ScheduleID = "orderflow-pipeline-" + suffix
	cfg.Redis.Addr = s.opts.redisAddr
	cfg.WorkerRoles = []string{"stg", "dds", "cdm"}
	cfg.LogFormat, cfg.LogLevel = "json", "info"
	cfg.DataDir = filepath.Join(s.logDir, suffix)
	for _, addr := range []*string{&cfg.HealthAddr, &cfg.DashboardAddr} {
		p, err := devstack.FreePort()
		if err != nil {
			return nil, err
		}
		*addr = "127.0.0.1:" + strconv.Itoa(p)
	}
	if tune != nil {
		tune(&cfg)
	}

	st = &stack{s: s, name: name, adminPG: s.opts.pgDSN}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	st.broker, err = devstack.StartBroker(devstack.BrokerOptions{
		Addr: "127.0.0.1:0", Partitions: cfg.Kafka.Partitions,
		Topics: []string{cfg.Kafka.InputTopic, cfg.Kafka.StgTopic, cfg.Kafka.DdsTopic},
	})
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = st.broker.ListenAddrs()

	st.dbName = "orderflow_bench_" + randomHex(6)
	cfg.PGDSN, err = withDatabase(s.opts.pgDSN, st.dbName)
	if err != nil {
		return nil, fmt.Errorf("-pg: %w", err)
	}
	if err := st.adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{st.dbName}.Sanitize()); err != nil {
		st.dbName = ""
		return nil, fmt.Errorf("create database: %w", err)
	}
	st.cfg = cfg

	st.kcl, err = kafkaio.NewClient(cfg.Kafka, nil)
	if err != nil {
		return nil, err
	}
	st.adm = kafkaio.Admin(st.kcl)
	st.rdb = redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr})
	if err := st.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis at %s: %w", cfg.Redis.Addr, err)
	}
	return st, nil
}

// adminExec runs one statement on the server's maintenance database.
func (st *stack) adminExec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, st.adminPG)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", redactDSN(st.adminPG), err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// startWorker runs `bin/orderflow migrate` (as the setup Job does; workers
// only check the schema) and then `bin/orderflow worker` with the
// scenario's environment, waits until every role's worker has started, and
// opens the scenario's database pool.
func (st *stack) startWorker(ctx context.Context) error {
	migrate := exec.CommandContext(ctx, st.s.opts.bin, "migrate")
	migrate.Env = workerEnv(st.cfg)
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("orderflow migrate: %w\n%s", err, out)
	}
	w, err := startWorkerProc(st.s.opts.bin, workerEnv(st.cfg), filepath.Join(st.s.logDir, st.name+"-worker.log"), len(st.cfg.WorkerRoles))
	if err != nil {
		return err
	}
	st.worker = w
	if err := w.waitReady(ctx, time.Minute); err != nil {
		return err
	}
	st.pool, err = pgxpool.New(ctx, st.cfg.PGDSN)
	return err
}

// close deletes the schedules, stops the worker, drops the database,
// deletes the reference data and stops the broker. It is safe on a
// partly built stack.
func (st *stack) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st.cfg.Pipeline.ScheduleID != "" && st.s.tc != nil {
		_ = starter.Delete(ctx, st.s.tc, st.cfg)
	}
	if st.worker != nil {
		if err := st.worker.stop(); err != nil {
			st.s.log.Warn("worker stop", "scenario", st.name, "err", err)
		}
	}
	if st.pool != nil {
		st.pool.Close()
	}
	if st.dbName != "" {
		if err := st.adminExec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{st.dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
			st.s.log.Warn("drop database", "db", st.dbName, "err", err)
		}
	}
	if st.rdb != nil {
		for i := 0; i < len(st.refKeys); i += 1000 {
			_ = st.rdb.Del(ctx, st.refKeys[i:min(i+1000, len(st.refKeys))]...).Err()
		}
		st.rdb.Close()
	}
	if st.kcl != nil {
		st.kcl.Close()
	}
	if st.broker != nil {
		st.broker.Close()
	}
}

// snapshot reads the CPU times of the stack's processes, the PostgreSQL
// backends of its database included.
func (st *stack) snapshot(ctx context.Context) cpuSnapshot {
	var pids []int
	if st.pool != nil {
		rows, err := st.pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, st.dbName)
		if err == nil {
			pids, _ = pgx.CollectRows(rows, pgx.RowTo[int])
		}
	}
	return takeSnapshot(st.worker.pid, st.s.temporalPID, pids)
}

// lag is how many input records the group has not committed yet, over every partition.
func (st *stack) lag(ctx context.Context) (int64, error) {
	parts, err := kafkaio.Owned(ctx, st.adm, st.cfg.Kafka.InputTopic, 0, 1)
	if err != nil {
		return 0, err
	}
	pos, err := kafkaio.Position(ctx, st.adm, st.cfg.Kafka.Group, st.cfg.Kafka.InputTopic, parts)
	if err != nil {
		return 0, err
	}
	return pos.Lag(), nil
}

// stallAfter is how long the lag may stay unchanged while the worker logs
// errors before a scenario gives up (a broken pipeline, not a slow one).
const stallAfter = time.Minute

// waitLagZero polls the lag every 100 ms until it is 0 and returns when it
// saw it so. It fails after timeout, at once if the worker exits, and after
// stallAfter without progress if the worker has logged errors meanwhile.
func (st *stack) waitLagZero(ctx context.Context, timeout time.Duration, progress func(lag int64)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastReport, lastChange := time.Now(), time.Now()
	var lag int64 = -1
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("lag still %d after %s: %w", lag, timeout, ctx.Err())
		case <-st.worker.done:
			return time.Time{}, fmt.Errorf("the worker exited: %v (log %s)%s", st.worker.waitErr, st.worker.logPath, st.worker.tail())
		case <-tick.C:
		}
		l, err := st.lag(ctx)
		if err != nil {
			continue
		}
		if l != lag {
			lag, lastChange = l, time.Now()
		}
		if lag == 0 {
			return time.Now(), nil
		}
		if _, errs, sample := st.worker.logCounts(); errs > 0 && time.Since(lastChange) > stallAfter {
			return time.Time{}, fmt.Errorf("no progress for %s at lag %d while the worker logged %d errors (log %s), e.g. %s",
				stallAfter, lag, errs, st.worker.logPath, strings.Join(sample, " | "))
		}
		if progress != nil && time.Since(lastReport) >= 5*time.Second {
			progress(lag)
			lastReport = time.Now()
		}
	}
}

// workerEnv is the environment of a worker process running cfg (without
// the simulator): the parent's environment without any orderflow setting,
// then cfg's.
func workerEnv(cfg config.Config) []string {
	cfg.Demo = false
	ours := cfg.Environ()
	set := map[string]bool{}
	for _, kv := range ours {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if set[k] || isOrderflowSetting(k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, ours...)
}

// isOrderflowSetting reports whether an inherited variable would change the
// worker's configuration (README's table).
func isOrderflowSetting(k string) bool {
	for _, p := range []string{"KAFKA_", "REDIS_", "TEMPORAL_", "SIM_", "PG_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// workerProc is a running `orderflow worker` process.
type workerProc struct {
	cmd     *exec.Cmd
	pid     int
	logPath string
	roles   int

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	ready   chan struct{} // closed when every role's worker started

	mu       sync.Mutex
	started  int
	warnings int
	errs     int
	firstBad []string // the first warning and error messages
	last     []string // the last log lines
}

// startWorkerProc starts bin with env; its log (JSON lines on stderr) goes
// to logPath and is read for readiness ("worker started" once per role),
// warnings and errors.
func startWorkerProc(bin string, env []string, logPath string, roles int) (*workerProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	w := &workerProc{logPath: logPath, roles: roles, done: make(chan struct{}), ready: make(chan struct{})}
	w.cmd = exec.Command(bin, "worker")
	w.cmd.Env = env
	w.cmd.Stdout = f
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	// Own process group (a Ctrl-C reaches only the bench, which stops the
	// worker in order); SIGTERM if the bench dies first.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := w.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s worker: %w", bin, err)
	}
	w.pid = w.cmd.Process.Pid
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		w.readLog(io.TeeReader(stderr, f))
	}()
	go func() {
		<-logged
		w.waitErr = w.cmd.Wait()
		f.Close()
		close(w.done)
	}()
	return w, nil
}

// logLine is the part of a slog JSON line the bench reads.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Err   string `json:"err"`
	Error string `json:"error"`
	// The Temporal SDK logs an activity's failure as "Error" with its type.
	SDKError     string `json:"Error"`
	ActivityType string `json:"ActivityType"`
}

func (w *workerProc) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var l logLine
		_ = json.Unmarshal([]byte(line), &l)
		w.mu.Lock()
		w.last = append(w.last, line)
		if len(w.last) > 10 {
			w.last = w.last[1:]
		}
		switch l.Level {
		case "WARN", "ERROR":
			if l.Level == "WARN" {
				w.warnings++
			} else {
				w.errs++
			}
			if len(w.firstBad) < 5 {
				w.firstBad = append(w.firstBad, strings.Join(strings.Fields(l.Level+" "+l.Msg+" "+l.ActivityType+" "+l.Err+l.Error+l.SDKError), " "))
			}
		}
		if l.Msg == "worker started" {
			w.started++
			if w.started == w.roles {
				close(w.ready)
			}
		}
		w.mu.Unlock()
	}
}

// waitReady waits until every role's worker has started.
func (w *workerProc) waitReady(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ready:
		return nil
	case <-w.done:
		return fmt.Errorf("the worker exited while starting: %v (log %s)%s", w.waitErr, w.logPath, w.tail())
	case <-t.C:
		return fmt.Errorf("the worker did not start within %s (log %s)%s", timeout, w.logPath, w.tail())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tail quotes the last log lines, for errors.
func (w *workerProc) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.last) == 0 {
		return ""
	}
	return "; last log lines:\n\t" + strings.Join(w.last, "\n\t")
}

// logCounts returns how many warnings and errors the worker logged and the first few.
func (w *workerProc) logCounts() (warnings, errs int, first []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.warnings, w.errs, append([]string(nil), w.firstBad...)
}

// stop sends SIGTERM, waits up to 15 s, then kills the process.
func (w *workerProc) stop() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("the worker did not stop within 15 s of SIGTERM; killed it")
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withDatabase returns the URL dsn naming database db instead.
func withDatabase(dsn, db string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("want a postgres:// URL, got %q", redactDSN(dsn))
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}

// redactDSN hides the password of a URL DSN.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}
