package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
)

func TestVerifyLine(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		run   *VerifyRun
		state string
		text  string
	}{
		{nil, "none", "verify: not run yet (daily schedule, or orderflow verify)"},
		{&VerifyRun{StartedAt: now.Add(-3 * time.Hour), DurationMs: 1200, RowsChecked: 12345}, "clean", "verify: clean, 12\u202f345 rows, 3h ago"},
		{&VerifyRun{StartedAt: now.Add(-5 * time.Minute), RowsChecked: 900, Mismatches: 4, Orphans: 1}, "mismatch", "verify: 4 mismatches (1 orphan row), 900 rows, 5m ago"},
		{&VerifyRun{StartedAt: now.Add(-30 * time.Second), RowsChecked: 900, Mismatches: 1}, "mismatch", "verify: 1 mismatch, 900 rows, 30s ago"},
	} {
		l := verifyLineOf(c.run, now)
		if l.State != c.state || l.Text != c.text {
			t.Errorf("%+v: %q %q, want %q %q", c.run, l.State, l.Text, c.state, c.text)
		}
	}
}

// TestPageShowsLastVerify: the pipeline health section shows the last row
// of stg.verify_runs, read as orderflow_reader.
func TestPageShowsLastVerify(t *testing.T) {
	ctx := context.Background()
	dsn, pool := testenv.MigratedPostgres(t)
	reader := testenv.PoolAs(t, dsn, db.Role("reader"))
	get := func() string {
		t.Helper()
		srv := httptest.NewServer(New(defaultConfig(t), reader, nil, testLogger())) // a fresh snapshot each time
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/?refresh=0")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	if page := get(); !strings.Contains(page, `data-verify="none"`) {
		t.Errorf("no run yet: the page has no verify line saying so")
	}
	for _, q := range []string{
		`INSERT INTO stg.verify_runs (started_at, duration_ms, rows_checked, mismatches, orphans) VALUES (now() - interval '2 days', 10, 5, 0, 0)`,
		`INSERT INTO stg.verify_runs (started_at, duration_ms, rows_checked, mismatches, orphans) VALUES (now() - interval '3 hours', 1500, 12345, 7, 2)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	page := get()
	if !strings.Contains(page, `class="verify mismatch" data-verify="mismatch" data-mismatches="7" data-rows="12345"`) ||
		!strings.Contains(page, "verify: 7 mismatches (2 orphan rows), 12\u202f345 rows, 3h ago") {
		i := strings.Index(page, "Pipeline health")
		t.Errorf("the last run (7 mismatches) is not shown:\n%s", page[i:min(len(page), i+600)])
	}
}
