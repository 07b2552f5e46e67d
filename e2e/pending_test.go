package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/activities"
)

// TestRunDyingAfterEmitCountersLosesNothing drives one batch by hand up to
// EmitCounters and abandons it there, as a run that failed for good before
// UpsertCdm and the offset commit would. The next, scheduled run re-reads
// the same offsets, finds nothing new to count, and still brings the marts
// to the oracle, because UpsertCdm copies every counter left pending.
func TestRunDyingAfterEmitCountersLosesNothing(t *testing.T) {
	s := startStack(t, faultConfig(t, 1))
	_, msgs, want := generate(t, s, 500)
	ctx := context.Background()
	a := s.acts
	ref := activities.BatchRef{BatchID: "abandoned-run", Shards: 1, LoadDT: time.Now().UTC().Truncate(time.Microsecond)}
	in := activities.BatchInput{Batch: ref}
	fetched, err := a.FetchBatch(ctx, activities.FetchBatchInput{Batch: ref, Limit: 10000})
	if err != nil || fetched.Records != len(msgs) {
		t.Fatalf("fetch: %d records, err %v; want all %d", fetched.Records, err, len(msgs))
	}
	if _, err := a.EnrichViaRedis(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadStg(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadDdsVault(ctx, in); err != nil {
		t.Fatal(err)
	}
	emitted, err := a.EmitCounters(ctx, in)
	if err != nil || emitted.ProductChanges == 0 {
		t.Fatalf("emit: %+v, err %v", emitted, err)
	}
	var inMarts, pending int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM cdm.user_product_counters),
		(SELECT count(*) FROM dds.b_user_product_cnt WHERE pending)`).Scan(&inMarts, &pending); err != nil {
		t.Fatal(err)
	}
	if inMarts != 0 || pending == 0 {
		t.Fatalf("after the abandoned run: %d mart rows, %d pending counters; want 0 and some", inMarts, pending)
	}

	s.schedule(t)
	s.waitDrained(t, 2*time.Minute)
	checkWarehouse(t, s, msgs, want)
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dds.b_user_product_cnt WHERE pending`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d counters still pending after the next run", pending)
	}
}
