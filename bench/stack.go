package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// bench is what every scenario of one invocation shares: the options, one
// Temporal dev server (in memory) and the drains measured so far (a drain
// asked for twice, say a sweep point equal to a drain run, runs once).
type bench struct {
	o           options
	log         *slog.Logger
	logDir      string // worker, dashboard and Temporal logs
	temporal    *devstack.TemporalServer
	temporalPID int
	tc          client.Client
	drains      map[drainSpec]DrainResult
}

// startBench starts the Temporal dev server and dials it.
func startBench(ctx context.Context, o options, log *slog.Logger) (*bench, error) {
	b := &bench{o: o, log: log, drains: map[drainSpec]DrainResult{}}
	var err error
	if b.logDir, err = os.MkdirTemp("", "orderflow-bench-"); err != nil {
		return nil, err
	}
	bin, err := devstack.TemporalBin()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(b.logDir, "temporal.log"))
	if err != nil {
		return nil, err
	}
	log.Info("starting the Temporal dev server", "log", logFile.Name())
	if b.temporal, err = devstack.StartTemporal(ctx, devstack.TemporalOptions{Bin: bin, Log: logFile}); err != nil {
		return nil, err
	}
	b.temporalPID = childPID(os.Getpid(), "temporal")
	b.tc, err = client.Dial(client.Options{HostPort: b.temporal.Addr(), Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("dial temporal at %s: %w", b.temporal.Addr(), err)
	}
	return b, nil
}

func (b *bench) close() {
	if b.tc != nil {
		b.tc.Close()
	}
	if err := b.temporal.Stop(); err != nil {
		b.log.Warn("temporal dev server", "err", err)
	}
}

// ok records a measurement's error in its result (failed) and logs it; it
// reports whether there was none.
func (b *bench) ok(what string, err error, failed *string) bool {
	if err != nil {
		*failed = err.Error()
		b.log.Error(what+" failed", "err", err)
	}
	return err == nil
}

// waitQuiet measures how busy the machine is with the stack idle (1 s);
// with -quiet-wait it keeps measuring until the share drops below
// -quiet-below or the wait is over. It returns the last share measured.
func (b *bench) waitQuiet(ctx context.Context) float64 {
	for deadline := time.Now().Add(b.o.quietWait); ; {
		busy := backgroundBusy(time.Second)
		if busy < b.o.quietBelow || !time.Now().Before(deadline) || ctx.Err() != nil {
			return busy
		}
		b.log.Info("waiting for a quieter machine", "busy", pct(busy), "below", pct(b.o.quietBelow))
	}
}

// stack is one scenario's isolated pipeline (testenv.Stack: its own
// broker, database, topics, group, task queues and schedule id) and its
// worker process once started.
type stack struct {
	*testenv.Stack
	b       *bench
	name    string
	kcl     *kgo.Client
	rdb     *redis.Client
	pool    *pgxpool.Pool // once the worker has started
	worker  *testenv.WorkerProc
	logFile *os.File
	refKeys []string // Redis keys to delete at the end
}

// newStack builds scenario name's configuration (defaults, every worker
// role in one process, then tune), starts its broker and creates its database.
func (b *bench) newStack(ctx context.Context, name string, tune func(*config.Config)) (st *stack, err error) {
	suffix := testenv.Suffix(name)
	ts, err := testenv.NewStack(ctx, testenv.StackOptions{Suffix: suffix, AdminDSN: b.o.pgDSN, DBPrefix: "orderflow_bench_",
		RedisAddr: b.o.redisAddr, TemporalAddr: b.temporal.Addr(), DataDir: filepath.Join(b.logDir, suffix),
		Tune: func(c *config.Config) {
			c.WorkerRoles, c.LogFormat, c.LogLevel = config.Roles, "json", "info"
			if tune != nil {
				tune(c)
			}
		}})
	if err != nil {
		return nil, err
	}
	st = &stack{Stack: ts, b: b, name: name}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if st.kcl, err = kafkaio.NewClient(st.Config.Kafka, nil); err != nil {
		return nil, err
	}
	st.rdb = redis.NewClient(&redis.Options{Addr: st.Config.Redis.Addr})
	return st, st.rdb.Ping(ctx).Err()
}

// saveRefData writes the world's users and restaurants to Redis and keeps
// their keys for the clean-up.
func (st *stack) saveRefData(ctx context.Context, w *simulator.World) error {
	for _, u := range w.Users {
		st.refKeys = append(st.refKeys, u.ID)
	}
	for _, r := range w.Restaurants {
		st.refKeys = append(st.refKeys, r.ID)
	}
	return w.SaveRefData(ctx, st.rdb)
}

// startWorker runs `orderflow migrate` (as the setup Job does) and then
// `orderflow worker`, waits until every role has started, opens the
// scenario's database pool and creates the schedules.
func (st *stack) startWorker(ctx context.Context) error {
	env := testenv.WorkerEnv(st.Config)
	migrate := exec.CommandContext(ctx, st.b.o.bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("orderflow migrate: %w\n%s", err, out)
	}
	var err error
	if st.logFile, err = os.Create(st.logPath("worker")); err != nil {
		return err
	}
	st.worker, err = testenv.StartWorker(testenv.WorkerOptions{Bin: st.b.o.bin, Env: env, Log: st.logFile, Roles: len(st.Config.WorkerRoles)})
	if err != nil {
		return err
	}
	if err := st.worker.WaitReady(ctx, time.Minute); err != nil {
		return fmt.Errorf("%w (log %s)", err, st.logPath("worker"))
	}
	if st.pool, err = pgxpool.New(ctx, st.Config.PGDSN); err != nil {
		return err
	}
	_, err = starter.Ensure(ctx, st.b.tc, st.Config)
	return err
}

// logPath is the path of the scenario's log of a process.
func (st *stack) logPath(process string) string {
	return filepath.Join(st.b.logDir, st.name+"-"+process+".log")
}

// logged is what the worker has logged so far.
func (st *stack) logged() logged {
	_, errs, sample := st.worker.LogCounts()
	return logged{WorkerErrors: errs, LogSample: sample, LogPath: st.logPath("worker")}
}

// close deletes the schedules, stops the worker, drops the database,
// deletes the reference data and stops the broker; it is safe on a partly
// built stack.
func (st *stack) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = starter.Delete(ctx, st.b.tc, st.Config)
	if st.worker != nil {
		if err := st.worker.Stop(); err != nil {
			st.b.log.Warn("worker stop", "scenario", st.name, "err", err)
		}
		st.logFile.Close()
	}
	if st.pool != nil {
		st.pool.Close()
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
	if err := st.Stack.Close(); err != nil {
		st.b.log.Warn("stack close", "scenario", st.name, "err", err)
	}
}

// snapshot reads the CPU times of the stack's processes, the PostgreSQL
// backends of its database included.
func (st *stack) snapshot(ctx context.Context) cpuSnapshot {
	var pids []int
	if rows, err := st.pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, st.DBName); err == nil {
		pids, _ = pgx.CollectRows(rows, pgx.RowTo[int])
	}
	return takeSnapshot(st.worker.PID, st.b.temporalPID, pids)
}

// lag is how many input records the group has not committed yet.
func (st *stack) lag(ctx context.Context) (int64, error) {
	adm := kafkaio.Admin(st.kcl)
	parts, err := kafkaio.Owned(ctx, adm, st.Config.Kafka.InputTopic, 0, 1)
	if err != nil {
		return 0, err
	}
	pos, err := kafkaio.Position(ctx, adm, st.Config.Kafka.Group, st.Config.Kafka.InputTopic, parts)
	return pos.Lag(), err
}

// stallAfter is how long the lag may stay unchanged while the worker logs
// errors before a scenario gives up (a broken pipeline, not a slow one).
const stallAfter = time.Minute

// waitLagZero polls the lag every 100 ms and returns when it saw it 0. It
// fails after timeout, at once if the worker exits, and after stallAfter
// without progress if the worker has logged errors meanwhile.
func (st *stack) waitLagZero(ctx context.Context, timeout time.Duration, progress func(lag int64)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastReport, lastChange, lag := time.Now(), time.Now(), int64(-1)
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("lag still %d after %s: %w", lag, timeout, ctx.Err())
		case <-st.worker.Done():
			return time.Time{}, fmt.Errorf("the worker exited: %v (log %s)%s", st.worker.Err(), st.logPath("worker"), st.worker.Tail())
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
		if _, errs, sample := st.worker.LogCounts(); errs > 0 && time.Since(lastChange) > stallAfter {
			return time.Time{}, fmt.Errorf("no progress for %s at lag %d while the worker logged %d errors (log %s), e.g. %s",
				stallAfter, lag, errs, st.logPath("worker"), strings.Join(sample, " | "))
		}
		if progress != nil && time.Since(lastReport) >= 5*time.Second {
			progress(lag)
			lastReport = time.Now()
		}
	}
}
