package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/refdata"
	"github.com/orderflow/orderflow/rejects"
	"github.com/orderflow/orderflow/simulator"
)

// TestShardedPipelines runs 2 and 4 pipelines at once over an 8-partition
// topic whose records are spread round-robin, so a user's orders (and an
// order's versions) land in different partitions and shards. The marts must
// equal a single pipeline's result, i.e. the oracle, with no deadlock
// between the shards' transactions.
func TestShardedPipelines(t *testing.T) {
	for _, shards := range []int{2, 4} {
		t.Run(map[int]string{2: "two", 4: "four"}[shards], func(t *testing.T) {
			cfg := faultConfig(t, 8)
			cfg.Pipeline.Shards = shards
			s := startStack(t, cfg)
			w := simulator.NewWorld(simulator.Options{Seed: time.Now().UnixNano(), Users: 200, Restaurants: 4, End: time.Now().UTC()})
			if err := w.SaveRefData(context.Background(), s.rdb); err != nil {
				t.Fatal(err)
			}
			msgs := w.History(2000)
			spread := roundRobinProducer(t, s)
			produce(t, spread, cfg.Kafka.InputTopic, msgs)
			s.schedule(t)
			s.waitDrained(t, 3*time.Minute)
			checkWarehouse(t, s, msgs, w.Expect(msgs))

			var shardsSeen int
			if err := s.pool.QueryRow(context.Background(), `SELECT count(DISTINCT shard) FROM stg.batches WHERE fetched > 0`).Scan(&shardsSeen); err != nil {
				t.Fatal(err)
			}
			if shardsSeen != shards {
				t.Errorf("batches came from %d shards, want %d", shardsSeen, shards)
			}
			// Shards share counter rows and take bucket locks: none may
			// ever wait on another in a cycle (PostgreSQL would abort one
			// and Temporal would retry it, hiding it from the marts).
			var deadlocks int64
			if err := s.pool.QueryRow(context.Background(), `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&deadlocks); err != nil {
				t.Fatal(err)
			}
			if deadlocks != 0 {
				t.Errorf("%d deadlocks between the shards' transactions", deadlocks)
			}
		})
	}
}

func roundRobinProducer(t *testing.T, s *stack) *kgo.Client {
	t.Helper()
	cl, err := kafkaio.NewClient(s.cfg.Kafka, nil, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestDuplicatesAndDisorder loads the same messages once in order into one
// warehouse and three times in shuffled order into another: both must hold
// the same orders, vault keys and marts.
func TestDuplicatesAndDisorder(t *testing.T) {
	w := simulator.NewWorld(simulator.Options{Seed: time.Now().UnixNano(), Users: 200, Restaurants: 4, End: time.Now().UTC()})
	msgs := w.History(1500)
	tripled := append(append(append([]simulator.Message{}, msgs...), msgs...), msgs...)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(tripled), func(i, j int) { tripled[i], tripled[j] = tripled[j], tripled[i] })

	load := func(t *testing.T, in []simulator.Message) (*stack, string) {
		s := startStack(t, faultConfig(t, 1))
		if err := w.SaveRefData(context.Background(), s.rdb); err != nil {
			t.Fatal(err)
		}
		produce(t, s.kcl, s.cfg.Kafka.InputTopic, in)
		s.schedule(t)
		s.waitDrained(t, 3*time.Minute)
		checkWarehouse(t, s, in, w.Expect(in))
		return s, warehouseDump(t, s)
	}
	_, once := load(t, msgs)
	_, thrice := load(t, tripled)
	// Links are every link a loaded version made, and which versions a batch
	// loads depends on the arrival order; the current owner and products
	// (s_order_owner's current row) must not.
	parts := []string{"stg payloads", "h_order", "h_user (current owners)", "current owners and products", "l_product_category (current products)", "current statuses", "marts"}
	a, b := strings.Split(once, " | "), strings.Split(thrice, " | ")
	for i, name := range parts {
		if a[i] != b[i] {
			t.Errorf("%s differ between one ordered copy and three shuffled copies", name)
		}
	}
}

// warehouseDump is every order's current STG payload, the hubs and links,
// each order's current status, and the marts, as one comparable string.
func warehouseDump(t *testing.T, s *stack) string {
	t.Helper()
	var dump string
	err := s.pool.QueryRow(context.Background(), `SELECT concat_ws(' | ',
		(SELECT string_agg(object_id || ':' || md5(payload::text), ',' ORDER BY object_id) FROM stg.order_events),
		(SELECT string_agg(h_order_pk::text, ',' ORDER BY h_order_pk) FROM dds.h_order),
		(SELECT string_agg(h_user_pk::text, ',' ORDER BY h_user_pk) FROM dds.h_user
			WHERE h_user_pk IN (SELECT h_user_pk FROM (SELECT DISTINCT ON (h_order_pk) h_user_pk, h_product_pks FROM dds.s_order_owner ORDER BY h_order_pk, update_ts DESC, load_dt DESC) cur)),
		(SELECT string_agg(h_order_pk || '=' || h_user_pk || ':' || array_to_string(h_product_pks, ';'), ',' ORDER BY h_order_pk) FROM (
			SELECT DISTINCT ON (h_order_pk) h_order_pk, h_user_pk, h_product_pks FROM dds.s_order_owner
			ORDER BY h_order_pk, update_ts DESC, load_dt DESC) owner),
		(SELECT string_agg(hk_product_category_pk::text, ',' ORDER BY hk_product_category_pk) FROM dds.l_product_category
			WHERE h_product_pk IN (SELECT unnest(h_product_pks) FROM (SELECT DISTINCT ON (h_order_pk) h_user_pk, h_product_pks FROM dds.s_order_owner ORDER BY h_order_pk, update_ts DESC, load_dt DESC) cur)),
		(SELECT string_agg(h_order_pk || '=' || status, ',' ORDER BY h_order_pk) FROM (
			SELECT DISTINCT ON (h_order_pk) h_order_pk, status FROM dds.s_order_status
			ORDER BY h_order_pk, update_ts DESC, load_dt DESC) cur))`).Scan(&dump)
	if err != nil {
		t.Fatal(err)
	}
	return dump + " | " + martDump(t, s)
}

// TestReprocessAfterFixingReferenceData: messages rejected for an unknown
// restaurant or a product missing from the menu load once Redis is fixed
// and `orderflow reprocess` re-queues them; they are marked resolved.
func TestReprocessAfterFixingReferenceData(t *testing.T) {
	s := startStack(t, faultConfig(t, 1))
	_, msgs, want := generate(t, s, 3000)
	s.schedule(t)
	s.waitDrained(t, 3*time.Minute)
	checkWarehouse(t, s, msgs, want)

	// Fix the reference data: add the missing restaurant, and the missing dishes to the menus.
	ctx := context.Background()
	fixed := map[int64]bool{}
	menus := map[string]*refdata.Restaurant{}
	for i, reason := range want.Rejected {
		if reason != string(order.ReasonUnknownRestaurant) && reason != string(order.ReasonNotInMenu) {
			continue
		}
		var m struct {
			ObjectID int64 `json:"object_id"`
			Payload  struct {
				Restaurant struct{ ID string } `json:"restaurant"`
				Items      []struct {
					ID    string  `json:"id"`
					Price float64 `json:"price"`
				} `json:"order_items"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(msgs[i].Value, &m); err != nil {
			t.Fatal(err)
		}
		id := m.Payload.Restaurant.ID
		if menus[id] == nil {
			snap, err := refdata.NewStore(s.rdb).Lookup(ctx, nil, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			r, ok := snap.Restaurants[id]
			if !ok {
				r = refdata.Restaurant{ID: id, Name: "Вновь открытая кухня"}
			}
			menus[id] = &r
		}
		for _, it := range m.Payload.Items {
			if _, ok := menus[id].Item(it.ID); !ok {
				menus[id].Menu = append(menus[id].Menu, refdata.MenuItem{ID: it.ID, Name: "Блюдо " + it.ID[:6], Price: it.Price, Category: "Новинки"})
			}
		}
		fixed[m.ObjectID] = true
	}
	if len(fixed) == 0 {
		t.Fatal("the history has no fixable rejected message")
	}
	var rs []refdata.Restaurant
	for _, r := range menus {
		rs = append(rs, *r)
	}
	if err := refdata.Save(ctx, s.rdb, nil, rs); err != nil {
		t.Fatal(err)
	}
	for _, reason := range []order.Reason{order.ReasonUnknownRestaurant, order.ReasonNotInMenu} {
		rep, err := rejects.Reprocess(ctx, s.pool, refdata.NewStore(s.rdb), s.kcl, s.cfg.Kafka.InputTopic, reason)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reprocess %s: %+v", reason, rep)
		if rep.Requeued == 0 || rep.StillOpen != 0 {
			t.Errorf("reprocess %s: %+v, want every message re-queued", reason, rep)
		}
	}
	if _, err := rejects.Reprocess(ctx, s.pool, refdata.NewStore(s.rdb), s.kcl, s.cfg.Kafka.InputTopic, order.ReasonMalformedJSON); err == nil {
		t.Error("reprocessing malformed_json must be refused: its bytes cannot change")
	}
	s.waitDrained(t, 3*time.Minute)

	var loaded, open int
	ids := make([]int64, 0, len(fixed))
	for id := range fixed {
		ids = append(ids, id)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dds.h_order WHERE order_id = ANY($1)`, ids).Scan(&loaded); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM stg.rejected_messages WHERE reason IN ('unknown_restaurant', 'product_not_in_menu') AND resolved_at IS NULL`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if loaded != len(fixed) || open != 0 {
		t.Fatalf("after reprocessing: %d of %d fixed orders in the vault, %d still open", loaded, len(fixed), open)
	}
	var counted int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dds.b_order_product_counted c JOIN dds.h_order o USING (h_order_pk) WHERE o.order_id = ANY($1)`, ids).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d fixed orders loaded; their products count in %d counters", loaded, counted)
	if counted == 0 {
		t.Error("no fixed order counts towards the marts")
	}
}
