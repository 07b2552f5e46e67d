package activities

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/orderflow/orderflow/db"
)

// MaxFailureMessage is how many bytes of a failure's message RecordFailure
// keeps (cut at a character boundary).
const MaxFailureMessage = 2000

// RecordFailureInput names a run that failed for good: its batch, the step
// (activity) that failed, the error's type (the ApplicationError type, or
// "Timeout" / "Unknown") and its message.
type RecordFailureInput struct {
	Batch     BatchRef `json:"batch"`
	Step      string   `json:"step"`
	ErrorType string   `json:"error_type"`
	Message   string   `json:"message"`
}

// RecordFailure stores one row in stg.run_failures, which the stall rule
// (package health) reads for the metrics, the dashboard and `orderflow
// status`. A retry of the same run, step and type adds nothing.
func (a *Activities) RecordFailure(ctx context.Context, in RecordFailureInput) error {
	step, typ := strings.TrimSpace(in.Step), strings.TrimSpace(in.ErrorType)
	if step == "" {
		step = "Unknown"
	}
	if typ == "" {
		typ = "Unknown"
	}
	_, err := a.DB.Stg.Exec(ctx, db.Query("stg_record_failure"),
		in.Batch.Shard, in.Batch.BatchID, step, typ, truncateMessage(in.Message, MaxFailureMessage))
	if err != nil {
		return classify(fmt.Errorf("record run failure: %w", err))
	}
	return nil
}

// truncateMessage cuts s to at most n bytes of valid UTF-8 without NUL
// (PostgreSQL's text refuses both), marking a cut with "…".
func truncateMessage(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
