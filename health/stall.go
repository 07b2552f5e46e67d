package health

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The stall rule (CONTRACT §10, "a stalled pipeline is loud"), judged per shard
// (shard i owns the input partitions p with p % SHARDS == i):
//
//   - runs keep failing: at least StallFailedRuns runs of the shard failed for
//     good (rows of stg.run_failures, one per run) after its newest committed
//     batch; or
//   - records wait: the shard's partitions have records waiting (lag > 0) and
//     its newest committed batch is more than StallIntervals schedule
//     intervals old. A shard that never committed counts from its first
//     batch or failure; one that never ran at all is not judged.
//
// The pipeline is stalled while any shard is. A commit of the shard ends it.
const (
	StallIntervals  = 3
	StallFailedRuns = 2
)

// MaxStallMessage is how many characters of the last error's message a
// Stall carries.
const MaxStallMessage = 300

// Failure is a run that failed for good (a row of stg.run_failures).
type Failure struct {
	At        time.Time
	BatchID   string
	Step      string
	ErrorType string
	Message   string // at most MaxStallMessage characters
}

// ShardProgress is what the stall rule reads from PostgreSQL about one shard.
type ShardProgress struct {
	Shard        int
	LastCommit   time.Time // newest committed batch; zero: none ever
	FirstSeen    time.Time // when none committed: its first batch's start; else zero
	Failures     int       // runs failed for good since LastCommit (ever, when none)
	FirstFailure time.Time // the first of them; zero: none
	Last         *Failure  // the newest of them; nil: none
}

// Progress is one read of every shard's progress, with the database's clock
// (committed_at and failed_at are on that clock, so ages use it too).
type Progress struct {
	Now    time.Time
	Shards []ShardProgress
}

// ShardStall is one stalled shard.
type ShardStall struct {
	Shard      int
	Rule       string    // RuleFailing or RuleWaiting
	Since      time.Time // the first failure since the last commit, else the last commit (or first batch)
	LastCommit time.Time // the shard's newest committed batch; zero: none
	Failures   int       // runs failed for good since LastCommit
	Waiting    int64     // records waiting on the shard's partitions; -1: unknown
	Last       *Failure  // the newest failed run since LastCommit; nil: none recorded
}

// The rules of ShardStall.Rule.
const (
	RuleFailing = "runs keep failing"
	RuleWaiting = "records wait"
)

// Stall is the verdict of the stall rule over every shard.
type Stall struct {
	Stalled    bool
	Shards     []ShardStall      // every stalled shard, stalled longest first
	LastCommit time.Time         // newest committed batch of any shard; zero: none yet
	Commits    map[int]time.Time // newest committed batch per shard; a shard that never committed is absent
	Interval   time.Duration     // the schedule interval the rule used
	Now        time.Time         // the database's clock when read
}

// First is the shard stalled longest; the zero value when none is.
func (s Stall) First() ShardStall {
	if len(s.Shards) == 0 {
		return ShardStall{}
	}
	return s.Shards[0]
}

// ErrorType is the last error's type for the metrics and the banner: the
// newest failed run's, or "none" when the stalled shard recorded none (a run
// may still be retrying, or no worker runs).
func (sh ShardStall) ErrorType() string {
	if sh.Last == nil {
		return "none"
	}
	return sh.Last.ErrorType
}

// Step is the step the newest failed run stopped at, or "none".
func (sh ShardStall) Step() string {
	if sh.Last == nil {
		return "none"
	}
	return sh.Last.Step
}

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// progressSQL reads, per shard 0..$1-1, the newest commit, the runs failed
// since (count, first, newest) and, when none committed, the first batch's
// start: index scans on stg.batches (committed_at) and stg.run_failures
// (shard, failed_at), one row per shard.
const progressSQL = `
SELECT s.shard, statement_timestamp(), c.committed_at, seen.at,
       coalesce(f.n, 0), f.first_at,
       l.failed_at, l.batch_id, l.step, l.error_type, l.message
FROM generate_series(0, $1::int - 1) AS s(shard)
LEFT JOIN LATERAL (
    SELECT committed_at FROM stg.batches
    WHERE shard = s.shard AND committed_at IS NOT NULL
    ORDER BY committed_at DESC LIMIT 1
) c ON true
LEFT JOIN LATERAL (
    SELECT count(DISTINCT batch_id)::int AS n, min(failed_at) AS first_at
    FROM stg.run_failures
    WHERE shard = s.shard AND failed_at > coalesce(c.committed_at, '-infinity')
) f ON true
LEFT JOIN LATERAL (
    SELECT failed_at, batch_id, step, error_type, left(message, $2) AS message
    FROM stg.run_failures
    WHERE shard = s.shard AND failed_at > coalesce(c.committed_at, '-infinity')
    ORDER BY failed_at DESC, id DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT min(started_at) AS at FROM stg.batches
    WHERE c.committed_at IS NULL AND shard = s.shard
) seen ON true
ORDER BY s.shard`

// ReadProgress reads every shard's progress in one query.
func ReadProgress(ctx context.Context, q Querier, shards int) (Progress, error) {
	var p Progress
	rows, err := q.Query(ctx, progressSQL, max(shards, 1), MaxStallMessage)
	if err != nil {
		return p, fmt.Errorf("read pipeline progress: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sh ShardProgress
		var commit, seen, firstFail, failedAt *time.Time
		var batch, step, typ, msg *string
		if err := rows.Scan(&sh.Shard, &p.Now, &commit, &seen, &sh.Failures, &firstFail,
			&failedAt, &batch, &step, &typ, &msg); err != nil {
			return p, fmt.Errorf("read pipeline progress: %w", err)
		}
		sh.LastCommit, sh.FirstSeen, sh.FirstFailure = deref(commit), deref(seen), deref(firstFail)
		if failedAt != nil {
			sh.Last = &Failure{At: *failedAt, BatchID: *batch, Step: *step, ErrorType: *typ, Message: *msg}
		}
		p.Shards = append(p.Shards, sh)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("read pipeline progress: %w", err)
	}
	return p, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// Judge applies the stall rule to p. lag is the records waiting per input
// partition; nil means unknown (Kafka did not answer), and then only "runs
// keep failing" is judged. interval is the schedule interval.
func Judge(p Progress, lag map[int32]int64, interval time.Duration) Stall {
	if interval <= 0 {
		interval = 25 * time.Second
	}
	st := Stall{Interval: interval, Now: p.Now}
	n := max(len(p.Shards), 1)
	waiting := make([]int64, n)
	for part, l := range lag {
		if l > 0 {
			waiting[int(part)%n] += l
		}
	}
	for _, sh := range p.Shards {
		if sh.LastCommit.After(st.LastCommit) {
			st.LastCommit = sh.LastCommit
		}
		if !sh.LastCommit.IsZero() {
			if st.Commits == nil {
				st.Commits = make(map[int]time.Time, len(p.Shards))
			}
			st.Commits[sh.Shard] = sh.LastCommit
		}
		ref := sh.LastCommit
		if ref.IsZero() {
			ref = earliest(sh.FirstSeen, sh.FirstFailure)
		}
		w := int64(-1)
		if lag != nil && sh.Shard < n {
			w = waiting[sh.Shard]
		}
		failing := sh.Failures >= StallFailedRuns
		stuck := w > 0 && !ref.IsZero() && p.Now.Sub(ref) > StallIntervals*interval
		if !failing && !stuck {
			continue
		}
		ss := ShardStall{Shard: sh.Shard, Rule: RuleWaiting, Since: ref, LastCommit: sh.LastCommit,
			Failures: sh.Failures, Waiting: w, Last: sh.Last}
		if failing {
			ss.Rule = RuleFailing
		}
		if !sh.FirstFailure.IsZero() {
			ss.Since = sh.FirstFailure
		}
		st.Shards = append(st.Shards, ss)
	}
	slices.SortStableFunc(st.Shards, func(a, b ShardStall) int { return a.Since.Compare(b.Since) })
	st.Stalled = len(st.Shards) > 0
	return st
}

// earliest is the earlier of the non-zero times; zero when both are.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// CheckStall reads the progress (one query) and judges it with lag.
func CheckStall(ctx context.Context, q Querier, shards int, interval time.Duration, lag map[int32]int64) (Stall, error) {
	p, err := ReadProgress(ctx, q, shards)
	if err != nil {
		return Stall{}, err
	}
	return Judge(p, lag, interval), nil
}

// Headline says why the shard is stalled, in a few words.
func (sh ShardStall) Headline(interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shard %d: ", sh.Shard)
	if sh.Rule == RuleFailing {
		fmt.Fprintf(&b, "%d runs failed for good since the last commit", sh.Failures)
	} else {
		fmt.Fprintf(&b, "%d records wait and no batch has committed for %d intervals (%s)",
			sh.Waiting, StallIntervals, StallIntervals*interval)
	}
	return b.String()
}

// LastError describes the newest failed run, or says none was recorded.
func (sh ShardStall) LastError() string {
	if sh.Last == nil {
		return "no run has failed for good yet (one may be retrying: see the Temporal UI), or no worker runs"
	}
	return fmt.Sprintf("%s in %s: %s", sh.Last.ErrorType, sh.Last.Step, sh.Last.Message)
}

// String is the verdict on one line: "STALLED since …" or "pipeline ok …".
func (s Stall) String() string {
	commit := "no batch has committed yet"
	if !s.LastCommit.IsZero() {
		commit = "last commit " + stamp(s.LastCommit) + " (" + age(s.Now.Sub(s.LastCommit)) + " ago)"
	}
	if !s.Stalled {
		return "pipeline ok: " + commit
	}
	sh := s.First()
	line := fmt.Sprintf("STALLED since %s (%s): %s; last error: %s; %s",
		stamp(sh.Since), age(s.Now.Sub(sh.Since)), sh.Headline(s.Interval), sh.LastError(), commit)
	if len(s.Shards) > 1 {
		line += fmt.Sprintf(" (%d shards stalled)", len(s.Shards))
	}
	return line
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func age(d time.Duration) string { return max(d, 0).Round(time.Second).String() }
