// Package e2e runs the whole pipeline (real schedule, workflow and workers)
// against real PostgreSQL, Redis, a kfake broker and the Temporal dev server,
// and checks the warehouse against the simulator's independent oracle.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/pipeline"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// ns is the spec's namespace, written out here so the test does not borrow
// the pipeline's own key code.
var ns = uuid.MustParse("7f288a2e-0ad0-4039-8e59-6c9838d87307")

func key(s string) uuid.UUID { return uuid.NewSHA1(ns, []byte(s)) }

// stack is a running pipeline: workers of every role plus the clients the test uses.
type stack struct {
	cfg  config.Config
	acts *activities.Activities // the workers' activities, to drive steps by hand
	pool *pgxpool.Pool
	rdb  redis.UniversalClient
	kcl  *kgo.Client
	tc   client.Client
}

// startStack runs workers of every role in this process, with opts (a
// fault of internal/faults, say) added to their app.
func startStack(t *testing.T, cfg config.Config, opts ...fx.Option) *stack {
	t.Helper()
	s := &stack{cfg: cfg}
	pipeline.StartWith(t, cfg, testLogger(t), opts, &s.pool, &s.rdb, &s.kcl, &s.tc, &s.acts)
	return s
}

// waitDrained waits until the group has committed every record of the input topic.
func (s *stack) waitDrained(t *testing.T, timeout time.Duration) health.Report {
	t.Helper()
	return pipeline.Drained(t, s.cfg, s.pool, kafkaio.Admin(s.kcl), timeout)
}

func TestPipelineEndToEnd(t *testing.T) {
	cfg := testenv.Config(t, 1)
	cfg.Pipeline.ScheduleInterval = 2 * time.Second
	cfg.Pipeline.BatchSize = 100
	cfg.Pipeline.DrainBatchSize = 1000
	ctx := context.Background()

	w, msgs, want := pipeline.Generate(t, simulator.Options{Users: 300, Restaurants: 5, End: time.Now().UTC()}, 3000)

	s := startStack(t, cfg)
	pipeline.Feed(t, cfg, s.rdb, s.kcl, s.tc, w, msgs)
	s.waitDrained(t, 4*time.Minute)

	saveHistory(t, s)
	checkMarts(t, s, want)
	checkRejected(t, s, msgs, want)
	checkReasonsSeen(t, want, "malformed_json", "invalid_order", "ignored_object_type", "unknown_restaurant", "product_not_in_menu")
	checkStgTopic(t, s, msgs, want)
	checkCountersTopic(t, s, w, want)
	checkNoDuplicates(t, s)
	checkVerify(t, s)

	// Replay the whole topic from offset 0: nothing may change.
	before := tableCounts(t, s)
	martsBefore := martDump(t, s)
	if err := starter.Pause(ctx, s.tc, cfg, "e2e replay"); err != nil {
		t.Fatal(err)
	}
	waitNoRunning(t, s)
	if err := kafkaio.Rewind(ctx, kafkaio.Admin(s.kcl), cfg.Kafka.Group, cfg.Kafka.InputTopic, 0); err != nil {
		t.Fatal(err)
	}
	if err := starter.Resume(ctx, s.tc, cfg, "e2e replay"); err != nil {
		t.Fatal(err)
	}
	if err := starter.Trigger(ctx, s.tc, cfg); err != nil {
		t.Fatal(err)
	}
	s.waitDrained(t, 4*time.Minute)
	var replayed int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(fetched), 0) FROM stg.batches WHERE committed_at IS NOT NULL`).Scan(&replayed); err != nil {
		t.Fatal(err)
	}
	if replayed < 2*len(msgs) {
		t.Fatalf("replay moved %d records in total, want at least %d (twice the topic)", replayed, 2*len(msgs))
	}
	after := tableCounts(t, s)
	for table, n := range before {
		if after[table] != n {
			t.Errorf("replay changed %s: %d rows, then %d", table, n, after[table])
		}
	}
	if got := martDump(t, s); got != martsBefore {
		t.Errorf("replay changed the marts")
	}
}

func waitNoRunning(t *testing.T, s *stack) {
	t.Helper()
	pipeline.WaitIdle(t, s.tc, s.cfg, time.Minute)
}

// checkMarts compares every mart row with the oracle: counts, names, and no
// row that the oracle does not expect (except counters that went back to 0).
func checkMarts(t *testing.T, s *stack, want simulator.Expected) {
	t.Helper()
	ctx := context.Background()
	type row struct {
		name string
		cnt  int
	}
	got := map[[2]uuid.UUID]row{}
	rows, err := s.pool.Query(ctx, `SELECT user_id, product_id, product_name, order_cnt FROM cdm.user_product_counters`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u, p uuid.UUID
		var r row
		if err := rows.Scan(&u, &p, &r.name, &r.cnt); err != nil {
			t.Fatal(err)
		}
		got[[2]uuid.UUID{u, p}] = r
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
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

	gotCat := map[[2]uuid.UUID]row{}
	rows, err = s.pool.Query(ctx, `SELECT user_id, category_id, category_name, order_cnt FROM cdm.user_category_counters`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u, c uuid.UUID
		var r row
		if err := rows.Scan(&u, &c, &r.name, &r.cnt); err != nil {
			t.Fatal(err)
		}
		gotCat[[2]uuid.UUID{u, c}] = r
	}
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

func consumeAll(t *testing.T, s *stack, topic string) []*kgo.Record {
	t.Helper()
	opts, err := kafkaio.Options(s.cfg.Kafka, nil, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kafkaio.Admin(s.kcl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range ends[topic] {
		total += p.Offset
	}
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for int64(len(recs)) < total && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	if int64(len(recs)) != total {
		t.Fatalf("%s: read %d of %d records", topic, len(recs), total)
	}
	return recs
}

// enriched is CONTRACT §5, decoded strictly by the test.
type enriched struct {
	ObjectID   int64  `json:"object_id"`
	ObjectType string `json:"object_type"`
	Payload    struct {
		ID         int64   `json:"id"`
		Date       string  `json:"date"`
		Cost       float64 `json:"cost"`
		Payment    float64 `json:"payment"`
		Status     string  `json:"status"`
		Restaurant struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"restaurant"`
		User struct {
			ID    string  `json:"id"`
			Name  *string `json:"name"`
			Login *string `json:"login"`
		} `json:"user"`
		Products []struct {
			ID       string  `json:"id"`
			Price    float64 `json:"price"`
			Quantity int     `json:"quantity"`
			Name     string  `json:"name"`
			Category string  `json:"category"`
		} `json:"products"`
	} `json:"payload"`
}

func checkStgTopic(t *testing.T, s *stack, msgs []simulator.Message, want simulator.Expected) {
	t.Helper()
	recs := consumeAll(t, s, s.cfg.Kafka.StgTopic)
	seen := map[int64]bool{}
	unknownUsers := 0
	for _, r := range recs {
		var e enriched
		dec := json.NewDecoder(bytesReader(r.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("stg message %s: %v", r.Value, err)
		}
		if string(r.Key) != fmt.Sprint(e.ObjectID) || e.ObjectType != "order" || e.Payload.ID != e.ObjectID {
			t.Errorf("stg message key %q: object %d, type %q, payload id %d", r.Key, e.ObjectID, e.ObjectType, e.Payload.ID)
		}
		if e.Payload.Restaurant.Name == "" || len(e.Payload.Products) == 0 {
			t.Errorf("order %d: restaurant or products missing: %s", e.ObjectID, r.Value)
		}
		for _, p := range e.Payload.Products {
			if p.Name != want.ProductNames[p.ID] || p.Category == "" {
				t.Errorf("order %d product %s: name %q category %q, menu says %q", e.ObjectID, p.ID, p.Name, p.Category, want.ProductNames[p.ID])
			}
		}
		if e.Payload.User.Name == nil {
			unknownUsers++
		}
		seen[e.ObjectID] = true
	}
	if len(seen) != want.Orders {
		t.Errorf("stg-service-orders carries %d distinct orders, want %d", len(seen), want.Orders)
	}
	if unknownUsers == 0 {
		t.Errorf("no enriched order has a null user name, yet the history has unknown users")
	}
	t.Logf("stg-service-orders: %d messages, %d orders, %d with unknown users", len(recs), len(seen), unknownUsers)
}

type counters struct {
	UserID     string `json:"user_id"`
	Categories map[string]struct {
		CategoryName string `json:"category_name"`
		OrderCnt     int    `json:"order_cnt"`
	} `json:"categories"`
	Products map[string]struct {
		ProductName string `json:"product_name"`
		OrderCnt    int    `json:"order_cnt"`
	} `json:"products"`
}

// checkCountersTopic: each user's last message carries exactly the oracle's counters.
func checkCountersTopic(t *testing.T, s *stack, w *simulator.World, want simulator.Expected) {
	t.Helper()
	last := map[string]counters{}
	for _, r := range consumeAll(t, s, s.cfg.Kafka.DdsTopic) {
		var c counters
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatalf("dds message %s: %v", r.Value, err)
		}
		if string(r.Key) != c.UserID {
			t.Errorf("dds message key %q for user %q", r.Key, c.UserID)
		}
		last[c.UserID] = c
	}
	// Every user who holds a counter has had a message. (A user named only
	// by a version that a newer one replaced within the same batch never
	// reached the vault, so has no counters to publish.)
	for k, n := range want.UserProducts {
		if _, ok := last[k[0]]; !ok && n > 0 {
			t.Errorf("no counters message for user %s", k[0])
		}
	}
	for u, c := range last {
		for p, v := range c.Products {
			if v.OrderCnt != want.UserProducts[[2]string{u, p}] {
				t.Errorf("user %s product %s: message says %d, want %d", u, p, v.OrderCnt, want.UserProducts[[2]string{u, p}])
			}
		}
		for k, n := range want.UserProducts {
			if k[0] == u && c.Products[k[1]].OrderCnt != n {
				t.Errorf("user %s product %s: message has %d, want %d", u, k[1], c.Products[k[1]].OrderCnt, n)
			}
		}
		for cat, v := range c.Categories {
			if cat != key(v.CategoryName).String() {
				t.Errorf("category key %s is not h_category_pk of %q", cat, v.CategoryName)
			}
			if v.OrderCnt != want.UserCategories[[2]string{u, v.CategoryName}] {
				t.Errorf("user %s category %s: message says %d, want %d", u, v.CategoryName, v.OrderCnt, want.UserCategories[[2]string{u, v.CategoryName}])
			}
		}
	}
	t.Logf("dds-service-orders: last message of %d users matches the oracle", len(last))
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
