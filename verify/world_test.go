package verify_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/vault"
	"github.com/orderflow/orderflow/verify"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// world is a small vault built by hand, with the counters and marts it implies.
type world struct {
	t    *testing.T
	pool *pgxpool.Pool
	dsn  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dsn, pool := testenv.MigratedPostgres(t)
	return &world{t: t, pool: pool, dsn: dsn}
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.pool.Exec(context.Background(), sql, args...); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

func user(n int) uuid.UUID        { return vault.Hub(fmt.Sprintf("user-%d", n)) }
func product(n int) uuid.UUID     { return vault.Hub(fmt.Sprintf("product-%d", n)) }
func category(s string) uuid.UUID { return vault.Hub(s) }
func order(n int) uuid.UUID       { return vault.OrderHub(int64(n)) }

var restaurant = vault.Hub("restaurant-1")

// version is one version of an order: its status, and (unless legacy) its
// s_order_owner row.
type version struct {
	status   string
	user     int
	products []int
	update   time.Time
	load     time.Time
}

// addOrder writes the hub, the links and one satellite row per version; a
// legacy order has no s_order_owner rows (loaded before migration 012).
func (w *world) addOrder(n int, legacy bool, vs ...version) {
	w.t.Helper()
	o := order(n)
	w.exec(`INSERT INTO dds.h_order VALUES ($1, $2, $3, $3, 'test') ON CONFLICT DO NOTHING`, o, n, t0)
	for _, v := range vs {
		u := user(v.user)
		w.exec(`INSERT INTO dds.l_order_user VALUES ($1, $2, $3, $4, 'test') ON CONFLICT DO NOTHING`, vault.Link(o, u), o, u, v.load)
		var pks []uuid.UUID
		for _, p := range v.products {
			pk := product(p)
			pks = append(pks, pk)
			w.exec(`INSERT INTO dds.l_order_product VALUES ($1, $2, $3, $4, 'test') ON CONFLICT DO NOTHING`, vault.Link(o, pk), o, pk, v.load)
		}
		w.exec(`INSERT INTO dds.s_order_status VALUES ($1, $2, $3, $4, $5, 'test')`,
			o, v.status, v.update, vault.HashDiff(o, v.status, vault.Time(v.update)), v.load)
		if !legacy {
			w.exec(`INSERT INTO dds.s_order_owner VALUES ($1, $2, $3, $4, $5, $6, $7, 'test')`,
				o, u, restaurant, pks, v.update, vault.HashDiff(o, u.String(), vault.Time(v.update)), v.load)
		}
	}
}

// build makes the vault of the test:
//
//	order 1: user 1, products 1 and 2, CLOSED
//	order 2: user 1, product 1, OPEN then CLOSED
//	order 3: user 2, product 3, CLOSED then CANCELLED (not counted)
//	order 4: legacy (no s_order_owner): linked to user 2 first, then user 3;
//	         products 2 and 3, CLOSED: counts for user 2
//	order 5: version 1 user 1 product 1, version 2 user 3 product 2, both
//	         CLOSED, version 2 current: counts for user 3, product 2 only
//
// with categories Pizza (products 1, 3) and Soup (product 2), product 1
// renamed once, and the per-user counters and marts it implies.
func (w *world) build() {
	w.t.Helper()
	for i := 1; i <= 3; i++ {
		w.exec(`INSERT INTO dds.h_user VALUES ($1, $2, $3, 'test')`, user(i), fmt.Sprintf("user-%d", i), t0)
		w.exec(`INSERT INTO dds.h_product VALUES ($1, $2, $3, 'test')`, product(i), fmt.Sprintf("product-%d", i), t0)
		w.exec(`INSERT INTO dds.s_product_names VALUES ($1, $2, $3, $4, 'test')`, product(i), fmt.Sprintf("Dish %d", i), uuid.New(), t0)
	}
	w.exec(`INSERT INTO dds.s_product_names VALUES ($1, 'Dish 1 (new)', $2, $3, 'test')`, product(1), uuid.New(), t0.Add(time.Hour))
	w.exec(`INSERT INTO dds.h_restaurant VALUES ($1, 'restaurant-1', $2, 'test')`, restaurant, t0)
	for _, c := range []string{"Pizza", "Soup"} {
		w.exec(`INSERT INTO dds.h_category VALUES ($1, $2, $3, 'test')`, category(c), c, t0)
	}
	for p, c := range map[int]string{1: "Pizza", 2: "Soup", 3: "Pizza"} {
		w.exec(`INSERT INTO dds.l_product_category VALUES ($1, $2, $3, $4, 'test')`, vault.Link(product(p), category(c)), product(p), category(c), t0)
		w.exec(`INSERT INTO dds.l_product_restaurant VALUES ($1, $2, $3, $4, 'test')`, vault.Link(product(p), restaurant), product(p), restaurant, t0)
	}
	l1, l2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	w.addOrder(1, false, version{"CLOSED", 1, []int{1, 2}, t0, l1})
	w.addOrder(2, false, version{"OPEN", 1, []int{1}, t0, l1}, version{"CLOSED", 1, []int{1}, t0.Add(time.Minute), l2})
	w.addOrder(3, false, version{"CLOSED", 2, []int{3}, t0, l1}, version{"CANCELLED", 2, []int{3}, t0.Add(time.Minute), l2})
	w.addOrder(4, true, version{"CLOSED", 2, []int{2, 3}, t0, l1}, version{"CLOSED", 3, []int{2, 3}, t0.Add(time.Minute), l2})
	w.addOrder(5, false, version{"CLOSED", 1, []int{1}, t0, l1}, version{"CLOSED", 3, []int{2}, t0.Add(time.Minute), l2})

	names := map[int]string{1: "Dish 1 (new)", 2: "Dish 2", 3: "Dish 3"}
	for _, c := range []struct{ u, p, n int }{{1, 1, 2}, {1, 2, 1}, {2, 2, 1}, {2, 3, 1}, {3, 2, 1}} {
		w.exec(`INSERT INTO dds.b_user_product_cnt VALUES ($1, $2, $3, false)`, user(c.u), product(c.p), c.n)
		w.exec(`INSERT INTO cdm.user_product_counters (user_id, product_id, product_name, order_cnt) VALUES ($1, $2, $3, $4)`,
			user(c.u), product(c.p), names[c.p], c.n)
	}
	for _, c := range []struct {
		u int
		c string
		n int
	}{{1, "Pizza", 2}, {1, "Soup", 1}, {2, "Soup", 1}, {2, "Pizza", 1}, {3, "Soup", 1}} {
		w.exec(`INSERT INTO dds.b_user_category_cnt VALUES ($1, $2, $3, false)`, user(c.u), category(c.c), c.n)
		w.exec(`INSERT INTO cdm.user_category_counters (user_id, category_id, category_name, order_cnt) VALUES ($1, $2, $3, $4)`,
			user(c.u), category(c.c), c.c, c.n)
	}
	// A counter that went back to 0 equals an absent one: a mart row of 0
	// (order 3's, cancelled) and a per-user counter of 0 are no difference.
	w.exec(`INSERT INTO cdm.user_product_counters (user_id, product_id, product_name, order_cnt) VALUES ($1, $2, 'Dish 3', 0)`, user(1), product(3))
	w.exec(`INSERT INTO dds.b_user_category_cnt VALUES ($1, $2, 0, false)`, user(3), category("Pizza"))
}

func (w *world) verify() verify.Report {
	w.t.Helper()
	rep, err := verify.Run(context.Background(), w.pool)
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

// want is a difference in the short form the tests compare.
type want struct {
	table, kind string
	user        int
	key         string // product-N or a category name
	want, got   int64
	wantName    string
}

func short(d verify.Difference) want {
	var u int
	fmt.Sscanf(d.UserID, "user-%d", &u)
	return want{d.Table, d.Kind, u, d.KeyName, d.Want, d.Got, d.WantName}
}

func expect(t *testing.T, rep verify.Report, ws ...want) {
	t.Helper()
	var got []want
	for _, d := range rep.Differences {
		got = append(got, short(d))
	}
	for _, w := range ws {
		if !slices.Contains(got, w) {
			t.Errorf("difference %+v not reported; got %+v", w, got)
		}
	}
	if len(got) != len(ws) {
		t.Errorf("%d differences, want %d: %+v", len(got), len(ws), got)
	}
}
