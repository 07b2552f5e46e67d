package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/orderflow/orderflow/starter"
)

// ns is the spec's namespace, written out here so the test does not borrow
// the pipeline's own key code.
var ns = uuid.MustParse("7f288a2e-0ad0-4039-8e59-6c9838d87307")

func key(s string) uuid.UUID { return uuid.NewSHA1(ns, []byte(s)) }

// scanRows runs query with args and calls each after it scans a row into dest.
func scanRows(t *testing.T, s *stack, query string, args, dest []any, each func()) {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		each()
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// testLogger logs warnings and errors (set ORDERFLOW_TEST_LOG=debug for more).
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("ORDERFLOW_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// saveHistory writes the history of the schedule's first run to path (as
// the Temporal CLI and UI export it), for workflows' replay test. It runs
// only when ORDERFLOW_SAVE_HISTORY names a file.
func saveHistory(t *testing.T, s *stack) {
	path := os.Getenv("ORDERFLOW_SAVE_HISTORY")
	if path == "" {
		return
	}
	ctx := context.Background()
	d, err := s.tc.ScheduleClient().GetHandle(ctx, starter.ScheduleID(s.cfg, 0)).Describe(ctx)
	if err != nil || len(d.Info.RecentActions) == 0 {
		t.Fatalf("describe schedule: %v (%d actions)", err, len(d.Info.RecentActions))
	}
	run := d.Info.RecentActions[0].StartWorkflowResult
	it := s.tc.GetWorkflowHistory(ctx, run.WorkflowID, run.FirstExecutionRunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved the history of %s (%d events) to %s", run.WorkflowID, len(hist.Events), path)
}

func quietTemporal() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
