package dashboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// VerifyRun is the last row of stg.verify_runs: when the check started,
// how long it took, what it compared and how many problems it found
// (mismatches, of which orphans are orphan rows).
type VerifyRun struct {
	StartedAt   time.Time
	DurationMs  int64
	RowsChecked int64
	Mismatches  int64
	Orphans     int64
}

// lastVerify returns the last verification, nil when there is none.
func lastVerify(ctx context.Context, tx pgx.Tx) (*VerifyRun, error) {
	var v VerifyRun
	err := tx.QueryRow(ctx, query("verify_last")).Scan(&v.StartedAt, &v.DurationMs, &v.RowsChecked, &v.Mismatches, &v.Orphans)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// verifyLine is the pipeline health section's line about the last
// verification: "verify: clean, 12 345 rows, 3h ago", or its mismatches in red.
type verifyLine struct {
	State      string // "none", "clean" or "mismatch" (data-verify)
	Text       string
	Title      string // the tooltip: when exactly and how long
	Mismatches int64
	Rows       int64
}

func verifyLineOf(v *VerifyRun, now time.Time) verifyLine {
	if v == nil {
		return verifyLine{State: "none", Text: "verify: not run yet (daily schedule, or orderflow verify)"}
	}
	l := verifyLine{
		State: "clean", Mismatches: v.Mismatches, Rows: v.RowsChecked,
		Title: fmt.Sprintf("started %s UTC, took %s", v.StartedAt.UTC().Format("2006-01-02 15:04:05"), fmtMs(v.DurationMs)),
	}
	what := "clean"
	if v.Mismatches > 0 {
		l.State = "mismatch"
		what = plural(v.Mismatches, "mismatch", "mismatches")
		if v.Orphans > 0 {
			what += fmt.Sprintf(" (%s)", plural(v.Orphans, "orphan row", "orphan rows"))
		}
	}
	l.Text = fmt.Sprintf("verify: %s, %s rows, %s", what, fmtInt(v.RowsChecked), ago(now.Sub(v.StartedAt)))
	return l
}
