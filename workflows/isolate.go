package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orderflow/orderflow/activities"
)

// recordCaused reports whether err is a non-retryable error that one or a
// few records can cause (activities.RecordCaused), so the safety net may
// look for them; anything else (BadSQL: a missing table, a revoked
// privilege; timeouts) stops the pipeline.
func recordCaused(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.NonRetryable() && activities.RecordCaused[app.Type()]
}

// errorType names err for operators: the application error's type, or
// the kind of failure.
func errorType(err error) string {
	var app *temporal.ApplicationError
	var timeout *temporal.TimeoutError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &app):
		if app.Type() != "" {
			return app.Type()
		}
		return "ApplicationError"
	case errors.As(err, &timeout):
		return "Timeout"
	case errors.As(err, &canceled):
		return "Canceled"
	}
	return "Unknown"
}

// isolation is the safety net's search through one batch (CONTRACT §9). The
// batch's records are split in halves, each half is moved through every
// step as a part of its own (batch id <batch>/<n>, load_dt the batch's plus
// n µs, so no two parts write the same satellite key); a part that fails
// for a record-caused reason is split again, until a part of one record
// fails: that record is poison. It is stored with its error and taken back
// out of the layers it reached, and the rest loads. Loads are idempotent,
// so records that the failed batch had already loaded are loaded again
// without adding a row.
type isolation struct {
	plan     *plan
	parent   activities.BatchRef
	max      int
	parts    int
	poisoned int
	found    []poisonPart
}

// poisonPart is a part of one record that failed for good.
type poisonPart struct {
	part activities.BatchRef
	step string
	err  error
}

// search isolates the poison records of a batch of n records whose step
// failed with cause. Only when it found no more than max does it set them
// aside (store and retract each), then copies the counters the retractions
// moved into the marts; with more, it stops and changes nothing it has not
// loaded.
func (iso *isolation) search(ctx workflow.Context, n int, step string, cause error) error {
	workflow.GetLogger(ctx).Warn("a step failed for good; looking for the records that cause it",
		"step", step, "error", cause.Error(), "records", n)
	if n == 1 {
		if err := iso.part(ctx, 0, 1); err != nil {
			return err
		}
	} else {
		mid := n / 2
		if err := iso.part(ctx, 0, mid); err != nil {
			return err
		}
		if err := iso.part(ctx, mid, n); err != nil {
			return err
		}
	}
	var a *activities.Activities
	for _, f := range iso.found {
		if err := iso.setAside(ctx, f); err != nil {
			return err
		}
	}
	// UpsertCdm copies every pending counter and renames the products
	// renamed at the batch's load_dt; it reads none of the batch's orders,
	// so it runs under a batch id of its own that holds no record.
	refresh := iso.parent
	refresh.BatchID = iso.parent.BatchID + "/marts"
	return workflow.ExecuteActivity(iso.plan.cdm, a.UpsertCdm, activities.BatchInput{Batch: refresh}).Get(ctx, nil)
}

// part moves records [lo, hi) of the batch as a part of their own.
func (iso *isolation) part(ctx workflow.Context, lo, hi int) error {
	var a *activities.Activities
	iso.parts++
	part := iso.parent
	part.BatchID = activities.PartID(iso.parent.BatchID, iso.parts)
	part.LoadDT = iso.parent.LoadDT.Add(time.Duration(iso.parts) * time.Microsecond)
	split := activities.SplitInput{Parent: iso.parent, Part: part, From: lo, To: hi}
	if err := workflow.ExecuteActivity(iso.plan.stg, a.SplitBatch, split).Get(ctx, nil); err != nil {
		return err
	}
	step, err := iso.plan.run(ctx, part, nil)
	if err == nil {
		return nil
	}
	if !recordCaused(err) {
		return err
	}
	if hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if err := iso.part(ctx, lo, mid); err != nil {
			return err
		}
		return iso.part(ctx, mid, hi)
	}
	if len(iso.found) >= iso.max {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("more than %d records of this batch fail %s for good: not a bad record but a fault (last: %v)", iso.max, step, err),
			"TooManyPoisonRecords", err)
	}
	iso.found = append(iso.found, poisonPart{part: part, step: step, err: err})
	return nil
}

// setAside stores a poison record with its error and takes it back out of
// the layers it reached.
func (iso *isolation) setAside(ctx workflow.Context, f poisonPart) error {
	var a *activities.Activities
	var rec activities.PoisonRecord
	poison := activities.PoisonInput{Parent: iso.parent, Part: f.part, Step: f.step, ErrorType: errorType(f.err), Error: rootMessage(f.err)}
	if err := workflow.ExecuteActivity(iso.plan.stg, a.StorePoison, poison).Get(ctx, &rec); err != nil {
		return err
	}
	retract := activities.RetractInput{Part: f.part, LoadFrom: iso.parent.LoadDT, LoadTo: iso.parent.LoadDT.Add(time.Second)}
	if err := workflow.ExecuteActivity(iso.plan.dds, a.RetractPoison, retract).Get(ctx, nil); err != nil {
		return err
	}
	iso.poisoned++
	workflow.GetLogger(ctx).Warn("poison record set aside", "partition", rec.Partition, "offset", rec.Offset, "step", f.step)
	return nil
}

// rootMessage is the failing activity's own error message, without the
// activity-error wrapping.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Error()
	}
	return err.Error()
}
