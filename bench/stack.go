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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/internal/testenv"
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
// database, topics, consumer group, task queues and schedule id
// (testenv.Stack), and the worker process once started.
type stack struct {
	*testenv.Stack
	s       *suite
	name    string
	cfg     config.Config
	kcl     *kgo.Client
	adm     *kadm.Client
	rdb     *redis.Client
	pool    *pgxpool.Pool // once the worker has started
	worker  *testenv.WorkerProc
	logFile *os.File // the worker's log
	refKeys []string // Redis keys to delete at the end
}

// newStack builds scenario name's configuration (defaults, then tune),
// starts its broker and creates its database.
func (s *suite) newStack(ctx context.Context, name string, tune func(*config.Config)) (st *stack, err error) {
	suffix := testenv.Suffix(name)
	ts, err := testenv.NewStack(ctx, testenv.StackOptions{
		Suffix:       suffix,
		AdminDSN:     s.opts.pgDSN,
		DBPrefix:     "orderflow_bench_",
		RedisAddr:    s.opts.redisAddr,
		TemporalAddr: s.temporal.Addr(),
		DataDir:      filepath.Join(s.logDir, suffix),
		Tune: func(c *config.Config) {
			c.WorkerRoles = config.Roles
			c.LogFormat, c.LogLevel = "json", "info"
			if tune != nil {
				tune(c)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	st = &stack{Stack: ts, s: s, name: name, cfg: ts.Config}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	st.kcl, err = kafkaio.NewClient(st.cfg.Kafka, nil)
	if err != nil {
		return nil, err
	}
	st.adm = kafkaio.Admin(st.kcl)
	st.rdb = redis.NewClient(&redis.Options{Addr: st.cfg.Redis.Addr})
	if err := st.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis at %s: %w", st.cfg.Redis.Addr, err)
	}
	return st, nil
}

// startWorker runs `bin/orderflow migrate` (as the setup Job does; workers
// only check the schema) and then `bin/orderflow worker` with the
// scenario's environment, waits until every role's worker has started, and
// opens the scenario's database pool.
func (st *stack) startWorker(ctx context.Context) error {
	env := testenv.WorkerEnv(st.cfg)
	migrate := exec.CommandContext(ctx, st.s.opts.bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("orderflow migrate: %w\n%s", err, out)
	}
	f, err := os.Create(st.workerLog())
	if err != nil {
		return err
	}
	st.logFile = f
	st.worker, err = testenv.StartWorker(testenv.WorkerOptions{Bin: st.s.opts.bin, Env: env, Log: f, Roles: len(st.cfg.WorkerRoles)})
	if err != nil {
		return err
	}
	if err := st.worker.WaitReady(ctx, time.Minute); err != nil {
		return fmt.Errorf("%w (log %s)", err, st.workerLog())
	}
	st.pool, err = pgxpool.New(ctx, st.cfg.PGDSN)
	return err
}

// workerLog is the path of the worker's log.
func (st *stack) workerLog() string { return filepath.Join(st.s.logDir, st.name+"-worker.log") }

// close deletes the schedules, stops the worker, drops the database,
// deletes the reference data and stops the broker. It is safe on a
// partly built stack.
func (st *stack) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st.s.tc != nil {
		_ = starter.Delete(ctx, st.s.tc, st.cfg)
	}
	if st.worker != nil {
		if err := st.worker.Stop(); err != nil {
			st.s.log.Warn("worker stop", "scenario", st.name, "err", err)
		}
	}
	if st.logFile != nil {
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
		st.s.log.Warn("stack close", "scenario", st.name, "err", err)
	}
}

// snapshot reads the CPU times of the stack's processes, the PostgreSQL
// backends of its database included.
func (st *stack) snapshot(ctx context.Context) cpuSnapshot {
	var pids []int
	if st.pool != nil {
		rows, err := st.pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, st.DBName)
		if err == nil {
			pids, _ = pgx.CollectRows(rows, pgx.RowTo[int])
		}
	}
	return takeSnapshot(st.worker.PID, st.s.temporalPID, pids)
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
		case <-st.worker.Done():
			return time.Time{}, fmt.Errorf("the worker exited: %v (log %s)%s", st.worker.Err(), st.workerLog(), st.worker.Tail())
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
				stallAfter, lag, errs, st.workerLog(), strings.Join(sample, " | "))
		}
		if progress != nil && time.Since(lastReport) >= 5*time.Second {
			progress(lag)
			lastReport = time.Now()
		}
	}
}
