package e2e

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/simulator"
)

// The checks of the warehouse (STG, DDS, CDM) against the simulator's oracle.

// counterRow is a mart row's name (of the product or category) and count.
type counterRow struct {
	name string
	cnt  int
}

// martCounters reads a mart's rows (user, product or category, name,
// count) by user and product or category.
func martCounters(t *testing.T, s *stack, query string) map[[2]uuid.UUID]counterRow {
	t.Helper()
	got := map[[2]uuid.UUID]counterRow{}
	var u, p uuid.UUID
	var r counterRow
	scanRows(t, s, query, nil, []any{&u, &p, &r.name, &r.cnt}, func() { got[[2]uuid.UUID{u, p}] = r })
	return got
}

// checkMarts compares every mart row with the oracle: counts, names, and no
// row that the oracle does not expect (except counters that went back to 0).
func checkMarts(t *testing.T, s *stack, want simulator.Expected) {
	t.Helper()
	got := martCounters(t, s, `SELECT user_id, product_id, product_name, order_cnt FROM cdm.user_product_counters`)
	for k, n := range want.UserProducts {
		r, ok := got[[2]uuid.UUID{key(k[0]), key(k[1])}]
		if !ok || r.cnt != n || r.name != want.ProductNames[k[1]] {
			t.Errorf("user %s product %s: got %+v (present %v), want %d %q", k[0], k[1], r, ok, n, want.ProductNames[k[1]])
		}
		delete(got, [2]uuid.UUID{key(k[0]), key(k[1])})
	}
	for k, r := range got {
		if r.cnt != 0 {
			t.Errorf("unexpected product counter %v = %+v", k, r)
		}
	}
	if len(want.UserProducts) == 0 {
		t.Fatal("the oracle expects no counters: the generated history is too small")
	}

	gotCat := martCounters(t, s, `SELECT user_id, category_id, category_name, order_cnt FROM cdm.user_category_counters`)
	for k, n := range want.UserCategories {
		kk := [2]uuid.UUID{key(k[0]), key(k[1])}
		r, ok := gotCat[kk]
		if !ok || r.cnt != n || r.name != k[1] {
			t.Errorf("user %s category %s: got %+v (present %v), want %d", k[0], k[1], r, ok, n)
		}
		delete(gotCat, kk)
	}
	for k, r := range gotCat {
		if r.cnt != 0 {
			t.Errorf("unexpected category counter %v = %+v", k, r)
		}
	}
	t.Logf("marts: %d product and %d category counters match the oracle", len(want.UserProducts), len(want.UserCategories))
}

// checkRejected: each bad message is stored at its offset with its reason, and nothing else is.
func checkRejected(t *testing.T, s *stack, msgs []simulator.Message, want simulator.Expected) {
	t.Helper()
	got := map[int64]string{}
	rows, err := s.pool.Query(context.Background(), `SELECT "offset", reason, detail, length(raw) FROM stg.rejected_messages WHERE topic = $1`, s.cfg.Kafka.InputTopic)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var off int64
		var reason, detail string
		var n int
		if err := rows.Scan(&off, &reason, &detail, &n); err != nil {
			t.Fatal(err)
		}
		if detail == "" || n != len(msgs[off].Value) {
			t.Errorf("rejected offset %d: detail %q, %d raw bytes (message has %d)", off, detail, n, len(msgs[off].Value))
		}
		got[off] = reason
	}
	for i, reason := range want.Rejected {
		if got[int64(i)] != reason {
			t.Errorf("message %d (%s): rejected as %q, want %q", i, msgs[i].Kind, got[int64(i)], reason)
		}
	}
	if len(got) != len(want.Rejected) {
		t.Errorf("%d rejected messages stored, want %d", len(got), len(want.Rejected))
	}
	kinds := map[string]int{}
	for _, r := range want.Rejected {
		kinds[r]++
	}
	t.Logf("rejected: %v", kinds)
}

// checkReasonsSeen fails when the generated messages hold no message to be
// rejected for one of reasons: the test would not see it handled.
func checkReasonsSeen(t *testing.T, want simulator.Expected, reasons ...string) {
	t.Helper()
	kinds := map[string]int{}
	for _, r := range want.Rejected {
		kinds[r]++
	}
	for _, r := range reasons {
		if kinds[r] == 0 {
			t.Errorf("the generated messages hold no %s message: the test would not see it handled", r)
		}
	}
}

// checkNoDuplicates: no order appears twice in STG and no satellite holds a version twice.
func checkNoDuplicates(t *testing.T, s *stack) {
	t.Helper()
	for _, q := range []string{
		`SELECT count(*) - count(DISTINCT object_id) FROM stg.order_events`,
		`SELECT count(*) - count(DISTINCT (h_order_pk, hk_order_status_hashdiff)) FROM dds.s_order_status`,
		`SELECT count(*) - count(DISTINCT (h_order_pk, hk_order_cost_hashdiff)) FROM dds.s_order_cost`,
		`SELECT count(*) FROM (SELECT h_product_pk, hk_product_names_hashdiff FROM dds.s_product_names GROUP BY 1, 2 HAVING count(*) > 1) d`,
	} {
		var n int
		if err := s.pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
}

// warehouseTables are every table whose rows are the warehouse (not the batch log).
var warehouseTables = []string{
	"stg.order_events", "stg.rejected_messages",
	"dds.h_user", "dds.h_product", "dds.h_category", "dds.h_restaurant", "dds.h_order",
	"dds.l_order_product", "dds.l_product_restaurant", "dds.l_product_category", "dds.l_order_user",
	"dds.s_user_names", "dds.s_product_names", "dds.s_restaurant_names", "dds.s_order_cost", "dds.s_order_status",
	"dds.b_order_product_counted", "dds.b_order_category_counted", "dds.b_user_product_cnt", "dds.b_user_category_cnt",
	"cdm.user_product_counters", "cdm.user_category_counters",
}

func tableCounts(t *testing.T, s *stack) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range warehouseTables {
		var n int64
		if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// martDump lists the marts' non-zero counters (a counter at 0 exists only if
// its orders were seen counted before they were cancelled).
func martDump(t *testing.T, s *stack) string {
	t.Helper()
	var dump string
	err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(string_agg(format('%s/%s/%s/%s', user_id, product_id, product_name, order_cnt), ',' ORDER BY user_id, product_id), '') FROM cdm.user_product_counters WHERE order_cnt > 0) || '|' ||
		(SELECT coalesce(string_agg(format('%s/%s/%s/%s', user_id, category_id, category_name, order_cnt), ',' ORDER BY user_id, category_id), '') FROM cdm.user_category_counters WHERE order_cnt > 0)`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	return dump
}

// checkWarehouse is what every fault test ends with: the marts equal the
// oracle, every bad message is stored with its reason, nothing is duplicated.
func checkWarehouse(t *testing.T, s *stack, msgs []simulator.Message, want simulator.Expected) {
	t.Helper()
	checkMarts(t, s, want)
	if s.cfg.Kafka.Partitions == 1 {
		checkRejected(t, s, msgs, want)
	} else {
		checkRejectedCounts(t, s, want)
	}
	checkNoDuplicates(t, s)
	checkVerify(t, s)
	checkOrders(t, s, want.Orders, "")
}

// checkOrders checks stg.order_events holds want orders; why, if any, ends
// the error.
func checkOrders(t *testing.T, s *stack, want int, why string) {
	t.Helper()
	var orders int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM stg.order_events`).Scan(&orders); err != nil {
		t.Fatal(err)
	}
	if orders != want {
		t.Errorf("stg.order_events holds %d orders, want %d%s", orders, want, why)
	}
}

// checkRejectedCounts compares rejected messages by reason (offsets differ across partitions).
func checkRejectedCounts(t *testing.T, s *stack, want simulator.Expected) {
	t.Helper()
	wantBy := map[string]int{}
	for _, r := range want.Rejected {
		wantBy[r]++
	}
	got := map[string]int{}
	var reason string
	var n int
	scanRows(t, s, `SELECT reason, count(*) FROM stg.rejected_messages GROUP BY reason`, nil, []any{&reason, &n}, func() { got[reason] = n })
	for r, n := range wantBy {
		if got[r] != n {
			t.Errorf("rejected %s: %d stored, want %d", r, got[r], n)
		}
	}
	if len(got) != len(wantBy) {
		t.Errorf("rejected reasons %v, want %v", got, wantBy)
	}
}
