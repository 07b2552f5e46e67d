package dashboard

// Helpers shared by the tests: a migrated database, a warehouse filled
// straight from the simulator's oracle (for tests that need data but not
// the pipeline), and what tags, charts and API answers must be, computed
// independently from simulator.Expected and the tag rules.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// ns is the spec's namespace, written out so the tests do not borrow the
// pipeline's key code.
var ns = uuid.MustParse("7f288a2e-0ad0-4039-8e59-6c9838d87307")

func key(s string) uuid.UUID { return uuid.NewSHA1(ns, []byte(s)) }

// defaultConfig is the configuration of an empty environment.
func defaultConfig(t testing.TB) config.Config {
	t.Helper()
	c, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("ORDERFLOW_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// migrated opens dsn and applies the migrations.
func migrated(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// rule is a row of cdm.tag_rules.
type rule struct {
	ID                               int
	Tag                              string
	Category, ProductID, ProductName *string
	Threshold                        int
}

func readRules(t testing.TB, pool *pgxpool.Pool) []rule {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `SELECT id, tag, category_name, product_id, product_name, threshold FROM cdm.tag_rules ORDER BY id`)
	rules, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rule, error) {
		var r rule
		return r, row.Scan(&r.ID, &r.Tag, &r.Category, &r.ProductID, &r.ProductName, &r.Threshold)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// tagCounter is the counter a rule names for a user, from the oracle.
func tagCounter(want simulator.Expected, r rule, user string) int {
	switch {
	case r.Category != nil:
		return want.UserCategories[[2]string{user, *r.Category}]
	case r.ProductID != nil:
		return want.UserProducts[[2]string{user, *r.ProductID}]
	default:
		n := 0
		for id, name := range want.ProductNames {
			if name == *r.ProductName {
				n += want.UserProducts[[2]string{user, id}]
			}
		}
		return n
	}
}

// expectTags is every (source user id, tag) the rules give, with the counter.
func expectTags(want simulator.Expected, rules []rule) map[[2]string]int {
	out := map[[2]string]int{}
	for u := range want.Users {
		for _, r := range rules {
			if n := tagCounter(want, r, u); n >= r.Threshold {
				out[[2]string{u, r.Tag}] = n
			}
		}
	}
	return out
}

// popularity is what a category or dish row of the bi views must say.
type popularity struct {
	Users, Orders       int64
	UsersPct, OrdersPct float64
}

// pct is round(100 * a / b, 1) as PostgreSQL's numeric computes it (half
// away from zero), in integers.
func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	q, r := 1000*a/b, 1000*a%b
	if 2*r >= b {
		q++
	}
	return float64(q) / 10
}

// expectCategories is bi.category_popularity from the oracle.
func expectCategories(want simulator.Expected) map[string]popularity {
	return expectPopularity(func(add func(user, what string, n int)) {
		for k, n := range want.UserCategories {
			add(k[0], k[1], n)
		}
	})
}

// expectDishes is bi.dish_popularity from the oracle: dishes are product names.
func expectDishes(want simulator.Expected) map[string]popularity {
	return expectPopularity(func(add func(user, what string, n int)) {
		for k, n := range want.UserProducts {
			add(k[0], want.ProductNames[k[1]], n)
		}
	})
}

func expectPopularity(each func(add func(user, what string, n int))) map[string]popularity {
	users := map[string]map[string]bool{}
	all := map[string]bool{}
	out := map[string]popularity{}
	var orders int64
	each(func(user, what string, n int) {
		if n <= 0 {
			return
		}
		if users[what] == nil {
			users[what] = map[string]bool{}
		}
		users[what][user] = true
		all[user] = true
		p := out[what]
		p.Orders += int64(n)
		out[what] = p
		orders += int64(n)
	})
	for what, p := range out {
		p.Users = int64(len(users[what]))
		p.UsersPct = pct(p.Users, int64(len(all)))
		p.OrdersPct = pct(p.Orders, orders)
		out[what] = p
	}
	return out
}

// expectProducts is, per source product id, distinct users and orders.
func expectProducts(want simulator.Expected) map[string]popularity {
	out := map[string]popularity{}
	for k, n := range want.UserProducts {
		if n > 0 {
			p := out[k[1]]
			p.Users++
			p.Orders += int64(n)
			out[k[1]] = p
		}
	}
	return out
}

// fillFromOracle writes into a migrated database what the pipeline holds
// after loading msgs, as the oracle computes it: the current version of
// each order in stg.order_events, the hubs, name satellites
// and links the API joins, both marts (plus a counter that went back to 0,
// as cancellations leave), the rejected messages (two of them resolved) and
// a few batches. It returns the oracle's expectation.
func fillFromOracle(t testing.TB, pool *pgxpool.Pool, w *simulator.World, msgs []simulator.Message) simulator.Expected {
	t.Helper()
	ctx := context.Background()
	want := w.Expect(msgs)
	loadDT := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const src = "orders-system-kafka"
	copyRows := func(table string, cols []string, rows [][]any) {
		t.Helper()
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"dds", table}, cols, pgx.CopyFromRows(rows)); err != nil {
			t.Fatalf("copy %s: %v", table, err)
		}
	}
	if len(want.UserProducts) == 0 {
		t.Fatal("the oracle expects no counters: the generated history is too small")
	}

	known := map[string]bool{}
	var users, userNames [][]any
	for _, u := range w.Users {
		known[u.ID] = true
	}
	ids := sortedKeys(want.Users)
	for _, u := range ids {
		users = append(users, []any{key(u), u, loadDT, src})
	}
	for _, u := range w.Users {
		if want.Users[u.ID] {
			userNames = append(userNames, []any{key(u.ID), u.Name, u.Login, uuid.New(), loadDT, src})
		}
	}
	copyRows("h_user", []string{"h_user_pk", "user_id", "load_dt", "load_src"}, users)
	copyRows("s_user_names", []string{"h_user_pk", "username", "userlogin", "hk_user_names_hashdiff", "load_dt", "load_src"}, userNames)

	var rests, restNames, products, productNames, prodRest, prodCat, cats [][]any
	seenCat := map[string]bool{}
	for _, r := range w.Restaurants {
		rests = append(rests, []any{key(r.ID), r.ID, loadDT, src})
		restNames = append(restNames, []any{key(r.ID), r.Name, uuid.New(), loadDT, src})
		for _, it := range r.Menu {
			if _, ok := want.ProductNames[it.ID]; !ok {
				continue
			}
			products = append(products, []any{key(it.ID), it.ID, loadDT, src})
			productNames = append(productNames, []any{key(it.ID), it.Name, uuid.New(), loadDT, src})
			prodRest = append(prodRest, []any{uuid.New(), key(it.ID), key(r.ID), loadDT, src})
			if !seenCat[it.Category] {
				seenCat[it.Category] = true
				cats = append(cats, []any{key(it.Category), it.Category, loadDT, src})
			}
			prodCat = append(prodCat, []any{uuid.New(), key(it.ID), key(it.Category), loadDT, src})
		}
	}
	copyRows("h_restaurant", []string{"h_restaurant_pk", "restaurant_id", "load_dt", "load_src"}, rests)
	copyRows("s_restaurant_names", []string{"h_restaurant_pk", "name", "hk_restaurant_names_hashdiff", "load_dt", "load_src"}, restNames)
	copyRows("h_product", []string{"h_product_pk", "product_id", "load_dt", "load_src"}, products)
	copyRows("s_product_names", []string{"h_product_pk", "name", "hk_product_names_hashdiff", "load_dt", "load_src"}, productNames)
	copyRows("h_category", []string{"h_category_pk", "category_name", "load_dt", "load_src"}, cats)
	copyRows("l_product_restaurant", []string{"hk_product_restaurant_pk", "h_product_pk", "h_restaurant_pk", "load_dt", "load_src"}, prodRest)
	copyRows("l_product_category", []string{"hk_product_category_pk", "h_product_pk", "h_category_pk", "load_dt", "load_src"}, prodCat)

	var up, uc [][]any
	for k, n := range want.UserProducts {
		up = append(up, []any{key(k[0]), key(k[1]), want.ProductNames[k[1]], int32(n)})
	}
	for k, n := range want.UserCategories {
		uc = append(uc, []any{key(k[0]), key(k[1]), k[1], int32(n)})
	}
	// A counter whose orders were all cancelled stays in the mart at 0.
	var zeroProduct string
	for _, p := range sortedKeys(want.ProductNames) {
		if _, ok := want.UserProducts[[2]string{ids[0], p}]; !ok {
			zeroProduct = p
			up = append(up, []any{key(ids[0]), key(p), want.ProductNames[p], int32(0)})
			break
		}
	}
	if zeroProduct == "" {
		t.Fatal("no product left for a zero counter")
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"cdm", "user_product_counters"}, []string{"user_id", "product_id", "product_name", "order_cnt"}, pgx.CopyFromRows(up)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"cdm", "user_category_counters"}, []string{"user_id", "category_id", "category_name", "order_cnt"}, pgx.CopyFromRows(uc)); err != nil {
		t.Fatal(err)
	}

	// stg.order_events: the current version of every loadable order.
	type event struct {
		ObjectID int64           `json:"object_id"`
		SentDttm string          `json:"sent_dttm"`
		Payload  json.RawMessage `json:"payload"`
	}
	current := map[int64][]any{}
	for i, m := range msgs {
		if m.WantReason != "" {
			continue
		}
		var e event
		var p struct {
			UpdateTS string `json:"update_ts"`
		}
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		ts, err1 := time.Parse(time.DateTime, p.UpdateTS)
		sent, err2 := time.Parse(time.DateTime, e.SentDttm)
		if err1 != nil || err2 != nil {
			t.Fatalf("message %d: %v %v", i, err1, err2)
		}
		if prev, ok := current[e.ObjectID]; !ok || !ts.Before(prev[4].(time.Time)) {
			current[e.ObjectID] = []any{int32(e.ObjectID), string(e.Payload), "order", sent, ts}
		}
	}
	var events [][]any
	for _, row := range current {
		events = append(events, row)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"stg", "order_events"}, []string{"object_id", "payload", "object_type", "sent_dttm", "update_ts"}, pgx.CopyFromRows(events)); err != nil {
		t.Fatal(err)
	}

	var rej [][]any
	for i, reason := range want.Rejected {
		rej = append(rej, []any{"orders", int32(0), int64(i), msgs[i].Value, reason, "from the oracle"})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"stg", "rejected_messages"}, []string{"topic", "partition", "offset", "raw", "reason", "detail"}, pgx.CopyFromRows(rej)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE stg.rejected_messages SET resolved_at = now(), resolution = 'test'
		WHERE id IN (SELECT id FROM stg.rejected_messages WHERE reason = 'unknown_restaurant' ORDER BY id LIMIT 2)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO stg.batches (batch_id, shard, shards, load_dt, started_at, ranges, fetched, backlog, orders, rejected, committed_at)
		SELECT 'batch-' || i, 0, 1, now(), now() - (i || ' minutes')::interval, '[]', 100 * i, 0, 90 * i, i,
		       CASE WHEN i > 1 THEN now() - (i || ' minutes')::interval + (i * 150 || ' milliseconds')::interval END
		FROM generate_series(1, 30) i`); err != nil {
		t.Fatal(err)
	}
	return want
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
