package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/simulator"
)

// TestHostileTopic mixes 2,000 hostile records (tombstones, empty values,
// oversize outputs, case-variant and duplicate keys, U+0000, bad UTF-8,
// deep nesting, huge numbers, wrong types, unknown statuses, user,
// restaurant and item changes across versions, stale re-sends) into valid
// traffic and runs it through the real stack in several batches. Afterwards
// lag is 0, every offset is loaded or rejected with the expected reason, the
// marts equal the oracle, every stored payload reads with PostgreSQL's JSON
// operators, and no run failed for good.
func TestHostileTopic(t *testing.T) {
	cfg := faultConfig(t, 1)
	cfg.Pipeline.DrainBatchSize = 700
	seed := time.Now().UnixNano()
	t.Logf("simulator seed %d", seed)
	w := simulator.NewWorld(simulator.Options{Seed: seed, Users: 200, Restaurants: 4, End: time.Now().UTC()})
	msgs := w.Hostile(2500, 2000)
	want := w.Expect(msgs)
	kinds := map[simulator.Kind]int{}
	for _, m := range msgs {
		kinds[m.Kind]++
	}
	t.Logf("%d records: %v", len(msgs), kinds)

	s := startStack(t, cfg)
	ctx := context.Background()
	if err := w.SaveRefData(ctx, s.rdb); err != nil {
		t.Fatal(err)
	}
	produce(t, s.kcl, cfg.Kafka.InputTopic, msgs)
	start := time.Now()
	s.schedule(t)
	s.waitDrained(t, 5*time.Minute)
	t.Logf("lag 0 after %s", time.Since(start).Round(time.Millisecond))

	checkMarts(t, s, want)
	checkRejected(t, s, msgs, want)
	checkReasonsSeen(t, want, "empty_record", "malformed_json", "invalid_order", "output_too_large")
	checkNoDuplicates(t, s)
	checkNoRunFailed(t, s)
	checkPayloadsReadable(t, s, want.Orders)
	checkVerify(t, s)

	// What each hostile kind became.
	got := map[int64]string{}
	var off int64
	var reason string
	scanRows(t, s, `SELECT "offset", reason FROM stg.rejected_messages`, nil, []any{&off, &reason}, func() { got[off] = reason })
	seen := map[simulator.Kind]map[string]int{}
	for i, m := range msgs {
		if seen[m.Kind] == nil {
			seen[m.Kind] = map[string]int{}
		}
		r := got[int64(i)]
		if r == "" {
			r = "loaded"
		}
		seen[m.Kind][r]++
	}
	for k, by := range seen {
		t.Logf("%-20s %v", k, by)
	}
	var batches int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM stg.batches WHERE committed_at IS NOT NULL AND fetched > 0`).Scan(&batches); err != nil {
		t.Fatal(err)
	}
	if batches < 3 {
		t.Errorf("%d batches moved the records, want several (the versions must cross batch boundaries)", batches)
	}
}

// checkPayloadsReadable: every stored payload parses as jsonb and every
// string in it de-escapes (->> and json_array_elements over the items).
func checkPayloadsReadable(t *testing.T, s *stack, orders int) {
	t.Helper()
	var n, items int
	err := s.pool.QueryRow(context.Background(), `SELECT count(*),
		coalesce(sum((SELECT count(i->>'name') FROM json_array_elements(payload->'order_items') i)), 0)
		FROM stg.order_events
		WHERE payload::jsonb IS NOT NULL AND payload->>'final_status' IS NOT NULL
		  AND (payload->'user'->>'id') IS NOT NULL AND (payload->'restaurant'->>'id') IS NOT NULL`).Scan(&n, &items)
	if err != nil {
		t.Fatalf("a stored payload does not read with PostgreSQL's JSON operators: %v", err)
	}
	if n != orders || items < orders {
		t.Errorf("%d payloads with %d item names read, want %d orders", n, items, orders)
	}
}
