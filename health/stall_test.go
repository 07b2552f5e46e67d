package health_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// warehouse is a migrated database of this test and the login user's pool.
type warehouse struct {
	dsn  string
	pool *pgxpool.Pool
	n    int
}

func newWarehouse(t *testing.T) *warehouse {
	t.Helper()
	dsn, pool := testenv.MigratedPostgres(t)
	return &warehouse{dsn: dsn, pool: pool}
}

// reset empties the tables the rule reads.
func (w *warehouse) reset(t *testing.T) {
	t.Helper()
	if _, err := w.pool.Exec(context.Background(), `TRUNCATE stg.batches, stg.run_failures`); err != nil {
		t.Fatal(err)
	}
}

// batch records a batch of shard that started `started` ago and committed
// `committed` ago (negative: not committed); it returns committed_at.
func (w *warehouse) batch(t *testing.T, shard int, started, committed time.Duration) time.Time {
	t.Helper()
	w.n++
	var at *time.Time
	err := w.pool.QueryRow(context.Background(), `INSERT INTO stg.batches
		(batch_id, shard, shards, load_dt, ranges, fetched, backlog, started_at, committed_at)
		VALUES ($1, $2, 2, now(), '[]', 10, 0, now() - $3::float8 * interval '1 second',
		        CASE WHEN $4::float8 < 0 THEN NULL ELSE now() - $4::float8 * interval '1 second' END)
		RETURNING committed_at`,
		fmt.Sprintf("run-%d", w.n), shard, started.Seconds(), committed.Seconds()).Scan(&at)
	if err != nil {
		t.Fatal(err)
	}
	if at == nil {
		return time.Time{}
	}
	return *at
}

// failure records a run of shard that failed for good `ago`; it returns failed_at.
func (w *warehouse) failure(t *testing.T, shard int, batch, step, typ, msg string, ago time.Duration) time.Time {
	t.Helper()
	var at time.Time
	err := w.pool.QueryRow(context.Background(), `INSERT INTO stg.run_failures
		(shard, batch_id, step, error_type, message, failed_at) VALUES ($1, $2, $3, $4, $5, now() - $6::float8 * interval '1 second')
		RETURNING failed_at`, shard, batch, step, typ, msg, ago.Seconds()).Scan(&at)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

const interval = 10 * time.Second // 3 intervals: 30 s

func (w *warehouse) judge(t *testing.T, lag map[int32]int64) health.Stall {
	t.Helper()
	st, err := health.CheckStall(context.Background(), w.pool, 2, interval, lag)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStallRule runs the stall rule (SHARDS=2, interval 10 s) over rows
// written to a real PostgreSQL.
func TestStallRule(t *testing.T) {
	w := newWarehouse(t)
	waitOn0 := map[int32]int64{0: 5, 1: 0, 2: 0, 3: 0} // partitions 0 and 2 are shard 0's
	noLag := map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}

	t.Run("nothing ever ran", func(t *testing.T) {
		w.reset(t)
		if st := w.judge(t, waitOn0); st.Stalled || !st.LastCommit.IsZero() {
			t.Errorf("a warehouse where no run ever started: %+v, want not stalled", st)
		}
	})

	t.Run("records wait", func(t *testing.T) {
		w.reset(t)
		w.batch(t, 1, time.Second, 0) // shard 1 is fine
		w.batch(t, 0, 21*time.Second, 20*time.Second)
		if st := w.judge(t, waitOn0); st.Stalled {
			t.Errorf("last commit 2 intervals ago: stalled %v", st)
		}
		w.reset(t)
		newest := w.batch(t, 1, time.Second, 0)
		commit := w.batch(t, 0, 41*time.Second, 40*time.Second)
		st := w.judge(t, waitOn0)
		sh := st.First()
		if !st.Stalled || len(st.Shards) != 1 || sh.Shard != 0 || sh.Rule != health.RuleWaiting || sh.Waiting != 5 ||
			!sh.Since.Equal(commit) || !sh.LastCommit.Equal(commit) || sh.Last != nil || sh.ErrorType() != "none" {
			t.Fatalf("shard 0 committed 4 intervals ago and 5 records wait: %+v, want shard 0 stalled since %s", st, commit)
		}
		if !st.LastCommit.Equal(newest) {
			t.Errorf("LastCommit %s, want shard 1's %s", st.LastCommit, newest)
		}
		if len(st.Commits) != 2 || !st.Commits[0].Equal(commit) || !st.Commits[1].Equal(newest) {
			t.Errorf("Commits %v, want shard 0 at %s and shard 1 at %s", st.Commits, commit, newest)
		}
		line := st.String()
		for _, s := range []string{"STALLED", "shard 0", "5 records wait", "no run has failed for good"} {
			if !strings.Contains(line, s) {
				t.Errorf("reason line %q lacks %q", line, s)
			}
		}
		if st := w.judge(t, noLag); st.Stalled {
			t.Errorf("nothing waits: stalled %v", st)
		}
		if st := w.judge(t, map[int32]int64{1: 7, 3: 1}); st.Stalled {
			t.Errorf("records wait only on shard 1, which committed now: stalled %v", st)
		}
		if st := w.judge(t, nil); st.Stalled {
			t.Errorf("lag unknown and no failure: stalled %v", st)
		}
		// A commit of the shard ends it.
		w.batch(t, 0, 2*time.Second, time.Second)
		if st := w.judge(t, waitOn0); st.Stalled {
			t.Errorf("after a new commit: stalled %v", st)
		}
	})

	t.Run("never committed", func(t *testing.T) {
		w.reset(t)
		w.batch(t, 0, 5*time.Second, -1)
		if st := w.judge(t, waitOn0); st.Stalled {
			t.Errorf("the first batch started 5 s ago: stalled %v", st)
		}
		w.reset(t)
		w.batch(t, 0, 45*time.Second, -1)
		st := w.judge(t, waitOn0)
		if !st.Stalled || st.First().Rule != health.RuleWaiting || !st.LastCommit.IsZero() ||
			st.Now.Sub(st.First().Since) < 44*time.Second || !strings.Contains(st.String(), "no batch has committed yet") {
			t.Errorf("the first batch started 45 s ago and never committed: %+v", st)
		}
	})

	t.Run("runs keep failing", func(t *testing.T) {
		w.reset(t)
		w.batch(t, 0, 10*time.Minute, 10*time.Minute)
		w.failure(t, 0, "old-1", "LoadStg", "BadData", "before the commit", 12*time.Minute)
		w.failure(t, 0, "old-2", "LoadStg", "BadData", "before the commit", 11*time.Minute)
		w.batch(t, 0, 6*time.Minute, 5*time.Minute)
		first := w.failure(t, 0, "run-a", "LoadDdsVault", "BadSQL", `relation "dds.h_user" does not exist`, 4*time.Minute)
		if st := w.judge(t, noLag); st.Stalled {
			t.Errorf("one failed run since the commit (and two before it): stalled %v", st)
		}
		// A retried RecordFailure or a second step of the same run is the same run.
		w.failure(t, 0, "run-a", "UpsertCdm", "BadSQL", "same run", 4*time.Minute-time.Second)
		if st := w.judge(t, noLag); st.Stalled {
			t.Errorf("two rows of one run: stalled %v", st)
		}
		long := strings.Repeat("x", 1000)
		newest := w.failure(t, 0, "run-b", "EmitCounters", "IntegrityViolation", "<b>dup</b> "+long, 3*time.Minute)
		st := w.judge(t, noLag)
		sh := st.First()
		if !st.Stalled || sh.Shard != 0 || sh.Rule != health.RuleFailing || sh.Failures != 2 || !sh.Since.Equal(first) ||
			sh.Last == nil || !sh.Last.At.Equal(newest) || sh.Last.BatchID != "run-b" ||
			sh.ErrorType() != "IntegrityViolation" || sh.Step() != "EmitCounters" {
			t.Fatalf("two runs failed since the last commit: %+v (last %+v), want failing since %s", st, sh.Last, first)
		}
		if n := len([]rune(sh.Last.Message)); n != health.MaxStallMessage || !strings.HasPrefix(sh.Last.Message, "<b>dup</b> xxx") {
			t.Errorf("message of %d characters, want the first %d: %.40q", n, health.MaxStallMessage, sh.Last.Message)
		}
		line := st.String()
		for _, s := range []string{"STALLED since " + first.UTC().Format("2006-01-02 15:04:05 UTC"),
			"2 runs failed", "IntegrityViolation in EmitCounters: <b>dup</b>", "last commit "} {
			if !strings.Contains(line, s) {
				t.Errorf("reason line %q lacks %q", line, s)
			}
		}
		// Kafka unreachable: failing runs are still judged.
		if st := w.judge(t, nil); !st.Stalled || st.First().Waiting != -1 {
			t.Errorf("lag unknown: %+v, want stalled (runs keep failing), waiting -1", st)
		}
		// A commit ends it.
		w.batch(t, 0, 2*time.Second, time.Second)
		if st := w.judge(t, noLag); st.Stalled {
			t.Errorf("after a commit: stalled %v", st)
		}
	})

	t.Run("one shard of two", func(t *testing.T) {
		w.reset(t)
		fresh := w.batch(t, 0, 2*time.Second, time.Second) // shard 0 commits
		w.batch(t, 1, 6*time.Minute, 5*time.Minute)
		w.failure(t, 1, "s1-a", "FetchBatch", "KafkaRejected", "TOPIC_AUTHORIZATION_FAILED", 2*time.Minute)
		since := w.failure(t, 1, "s1-b", "FetchBatch", "KafkaRejected", "TOPIC_AUTHORIZATION_FAILED", 3*time.Minute)
		w.failure(t, 0, "s0-a", "LoadStg", "BadSQL", "shard 0, before its commit", 4*time.Minute)
		w.failure(t, 0, "s0-b", "LoadStg", "BadSQL", "shard 0, before its commit", 3*time.Minute)
		st := w.judge(t, noLag)
		if !st.Stalled || len(st.Shards) != 1 || st.First().Shard != 1 || !st.First().Since.Equal(since) ||
			st.First().ErrorType() != "KafkaRejected" || !st.LastCommit.Equal(fresh) {
			t.Errorf("shard 1 keeps failing while shard 0 commits: %+v", st)
		}
		// Both stalled: the one stalled longest comes first.
		w.reset(t)
		w.batch(t, 0, 10*time.Minute, 10*time.Minute)
		w.batch(t, 1, 20*time.Minute, 20*time.Minute)
		st = w.judge(t, map[int32]int64{0: 1, 1: 1})
		if !st.Stalled || len(st.Shards) != 2 || st.First().Shard != 1 || st.Shards[1].Shard != 0 {
			t.Errorf("both shards wait: %+v, want shard 1 (20 min) then shard 0", st.Shards)
		}
	})

	t.Run("the reader role may read it", func(t *testing.T) {
		w.reset(t)
		w.batch(t, 0, 10*time.Minute, 10*time.Minute)
		w.failure(t, 0, "r-a", "LoadStg", "BadSQL", "m", 2*time.Minute)
		w.failure(t, 0, "r-b", "LoadStg", "BadSQL", "m", time.Minute)
		reader, err := db.OpenReader(context.Background(), w.dsn, true)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		st, err := health.CheckStall(context.Background(), reader, 1, interval, nil)
		if err != nil || !st.Stalled {
			t.Errorf("as orderflow_reader: %+v, %v", st, err)
		}
	})
}
