package activities

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestRecordFailure stores failed runs as the stg role (its grants suffice),
// once per run, step and type however often the activity is retried, with
// the message cut to MaxFailureMessage bytes of valid UTF-8.
func TestRecordFailure(t *testing.T) {
	ctx := context.Background()
	dsn, admin := testenv.MigratedPostgres(t)
	stg := testenv.PoolAs(t, dsn, db.Role("stg"))
	a := &Activities{DB: Pools{Stg: stg}}

	long := strings.Repeat("é", MaxFailureMessage) // 2 bytes each
	in := RecordFailureInput{Batch: BatchRef{BatchID: "run-1", Shard: 3, Shards: 4}, Step: "LoadDdsVault",
		ErrorType: "BadSQL", Message: "ERROR: permission denied \x00" + long}
	for range 3 { // a retried activity
		if err := a.RecordFailure(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	other := in
	other.Batch.BatchID, other.ErrorType, other.Step, other.Message = "run-2", "", "", "boom"
	if err := a.RecordFailure(ctx, other); err != nil {
		t.Fatal(err)
	}

	rows, err := admin.Query(ctx, `SELECT shard, batch_id, step, error_type, message, failed_at > now() - interval '1 minute'
		FROM stg.run_failures ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		shard               int
		batch, step, typ, m string
		recent              bool
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.shard, &r.batch, &r.step, &r.typ, &r.m, &r.recent); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d rows, want 2 (one per run): %+v", len(got), got)
	}
	r := got[0]
	if r.shard != 3 || r.batch != "run-1" || r.step != "LoadDdsVault" || r.typ != "BadSQL" || !r.recent {
		t.Errorf("first row %+v", r)
	}
	if len(r.m) > MaxFailureMessage || !utf8.ValidString(r.m) || !strings.HasPrefix(r.m, "ERROR: permission denied é") ||
		!strings.HasSuffix(r.m, "…") || strings.ContainsRune(r.m, 0) {
		t.Errorf("message of %d bytes (valid %v): %.60q…", len(r.m), utf8.ValidString(r.m), r.m)
	}
	if r := got[1]; r.batch != "run-2" || r.step != "Unknown" || r.typ != "Unknown" || r.m != "boom" {
		t.Errorf("second row %+v, want Unknown step and type", r)
	}

	// Rows of the shard older than 30 days go with the next failure.
	if _, err := admin.Exec(ctx, `UPDATE stg.run_failures SET failed_at = now() - interval '31 days' WHERE batch_id = 'run-1'`); err != nil {
		t.Fatal(err)
	}
	third := in
	third.Batch.BatchID = "run-3"
	if err := a.RecordFailure(ctx, third); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM stg.run_failures WHERE batch_id = 'run-1'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a 31-day-old failure is still there (%d, %v)", n, err)
	}
}
