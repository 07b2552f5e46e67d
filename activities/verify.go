package activities

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/verify"
)

// VerifyResult is what RunVerify reports (CONTRACT §14): counts only; the
// differences themselves are in stg.verify_runs (detail) and in
// `orderflow verify`.
type VerifyResult struct {
	// RunID is the run's row in stg.verify_runs.
	RunID int64 `json:"run_id"`
	// Mismatches counts every problem: Differences plus Orphans.
	Mismatches  int64 `json:"mismatches"`
	Differences int   `json:"differences"`
	Orphans     int64 `json:"orphans"`
	// InFlight counts differences a batch still in flight explains (not mismatches).
	InFlight    int   `json:"in_flight"`
	RowsChecked int64 `json:"rows_checked"`
	DurationMs  int64 `json:"duration_ms"`
}

// RunVerify recomputes the marts from the vault, compares them with the
// per-user counters and the marts, checks for orphans (package verify),
// records the result in stg.verify_runs and as metrics, and returns it.
// A verification that finds mismatches succeeds: they are its result.
func (a *Activities) RunVerify(ctx context.Context) (VerifyResult, error) {
	stop := heartbeat(ctx)
	defer stop()
	rep, err := verify.Run(ctx, a.DB.Dds)
	if err != nil {
		return VerifyResult{}, classify(err)
	}
	id, err := verify.Record(ctx, a.DB.Dds, rep)
	if err != nil {
		return VerifyResult{}, classify(err)
	}
	observe.VerifyFinished(rep.Mismatches(), rep.RowsChecked(), rep.Duration, time.Now())
	res := VerifyResult{
		RunID: id, Mismatches: rep.Mismatches(), Differences: len(rep.Differences), Orphans: rep.OrphanRows(),
		InFlight: len(rep.InFlight), RowsChecked: rep.RowsChecked(), DurationMs: rep.Duration.Milliseconds(),
	}
	if a.Log != nil {
		log := a.Log.Info
		if !rep.Clean() {
			log = a.Log.Warn
		}
		log(rep.Summary(), "run_id", id, "mismatches", res.Mismatches, "in_flight", res.InFlight)
	}
	return res, nil
}
