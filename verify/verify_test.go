package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/db"
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
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
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

// TestVerify builds a small vault with the counters and marts it implies,
// checks it is clean, then tampers with it in every way CONTRACT §14 names and
// checks each is reported.
func TestVerify(t *testing.T) {
	w := newWorld(t)
	w.build()

	rep := w.verify()
	if !rep.Clean() || len(rep.InFlight) != 0 {
		var buf bytes.Buffer
		_ = rep.Write(&buf, 50)
		t.Fatalf("the vault as built is not clean:\n%s", buf.String())
	}
	// Order 3 is cancelled: 4 counted orders.
	if rep.CountedOrders != 4 {
		t.Errorf("counted orders %d, want 4 (orders 1, 2, 4, 5)", rep.CountedOrders)
	}
	// (user, product): 5 counted + the mart's zero row; (user, category): 5 + the zero counter.
	if rep.ProductKeys != 6 || rep.CategoryKeys != 6 {
		t.Errorf("keys compared: %d products, %d categories; want 6 and 6", rep.ProductKeys, rep.CategoryKeys)
	}
	if rep.VaultRows == 0 || rep.RowsChecked() != rep.ProductKeys+rep.CategoryKeys+rep.VaultRows {
		t.Errorf("rows checked %d, vault rows %d", rep.RowsChecked(), rep.VaultRows)
	}
	if !strings.HasPrefix(rep.Summary(), "verify: clean: ") {
		t.Errorf("summary %q", rep.Summary())
	}

	t.Run("mart counter changed", func(t *testing.T) {
		w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 5 WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
		w.exec(`UPDATE cdm.user_category_counters SET order_cnt = 0 WHERE user_id = $1 AND category_id = $2`, user(2), category("Soup"))
		expect(t, w.verify(),
			want{"cdm.user_product_counters", "count", 1, "product-1", 2, 5, ""},
			want{"cdm.user_category_counters", "count", 2, "Soup", 1, 0, ""})
		w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 2 WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
		w.exec(`UPDATE cdm.user_category_counters SET order_cnt = 1 WHERE user_id = $1 AND category_id = $2`, user(2), category("Soup"))
		expect(t, w.verify())
	})

	t.Run("mart name stale", func(t *testing.T) {
		w.exec(`UPDATE cdm.user_product_counters SET product_name = 'Dish 1' WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
		expect(t, w.verify(), want{"cdm.user_product_counters", "name", 1, "product-1", 0, 0, "Dish 1 (new)"})
		w.exec(`UPDATE cdm.user_product_counters SET product_name = 'Dish 1 (new)' WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
	})

	t.Run("per-user counter deleted", func(t *testing.T) {
		w.exec(`DELETE FROM dds.b_user_product_cnt WHERE h_user_pk = $1 AND h_product_pk = $2`, user(2), product(3))
		w.exec(`UPDATE dds.b_user_category_cnt SET order_cnt = 3 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza"))
		rep := w.verify()
		expect(t, rep,
			want{"dds.b_user_product_cnt", "count", 2, "product-3", 1, 0, ""},
			want{"dds.b_user_category_cnt", "count", 1, "Pizza", 2, 3, ""})
		if rep.Mismatches() != 2 || rep.Clean() {
			t.Errorf("mismatches %d", rep.Mismatches())
		}
		w.exec(`INSERT INTO dds.b_user_product_cnt VALUES ($1, $2, 1, false)`, user(2), product(3))
		w.exec(`UPDATE dds.b_user_category_cnt SET order_cnt = 2 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza"))
		expect(t, w.verify())
	})

	t.Run("user changes across versions", func(t *testing.T) {
		// Order 6: version 1 names user 1 (the counters and marts say so),
		// then version 2 names user 2: the counters must move.
		w.addOrder(6, false, version{"CLOSED", 1, []int{3}, t0, t0.Add(3 * time.Minute)})
		w.exec(`INSERT INTO dds.b_user_product_cnt VALUES ($1, $2, 1, false)`, user(1), product(3))
		w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 1 WHERE user_id = $1 AND product_id = $2`, user(1), product(3))
		w.exec(`UPDATE dds.b_user_category_cnt SET order_cnt = 3 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza"))
		w.exec(`UPDATE cdm.user_category_counters SET order_cnt = 3 WHERE user_id = $1 AND category_id = $2`, user(1), category("Pizza"))
		expect(t, w.verify())

		w.addOrder(6, false, version{"CLOSED", 2, []int{3}, t0.Add(time.Minute), t0.Add(4 * time.Minute)})
		expect(t, w.verify(),
			want{"dds.b_user_product_cnt", "count", 1, "product-3", 0, 1, ""},
			want{"dds.b_user_product_cnt", "count", 2, "product-3", 2, 1, ""},
			want{"cdm.user_product_counters", "count", 1, "product-3", 0, 1, ""},
			want{"cdm.user_product_counters", "count", 2, "product-3", 2, 1, ""},
			want{"dds.b_user_category_cnt", "count", 1, "Pizza", 2, 3, ""},
			want{"dds.b_user_category_cnt", "count", 2, "Pizza", 2, 1, ""},
			want{"cdm.user_category_counters", "count", 1, "Pizza", 2, 3, ""},
			want{"cdm.user_category_counters", "count", 2, "Pizza", 2, 1, ""})

		// A batch in flight (its working rows are still there) explains them:
		// not mismatches, but listed apart.
		w.exec(`INSERT INTO stg.batch_orders VALUES ('b1', 6, $1, $2, 0, 0, $3, $3, '{}', '{}')`, order(6), user(2), t0)
		rep := w.verify()
		if !rep.Clean() || len(rep.InFlight) != 8 {
			t.Errorf("with the batch in flight: %d mismatches, %d in flight; want 0 and 8", rep.Mismatches(), len(rep.InFlight))
		}
		w.exec(`DELETE FROM stg.batch_orders`)

		// The pipeline catches up: the counters move to user 2.
		w.exec(`UPDATE dds.b_user_product_cnt SET order_cnt = 0 WHERE h_user_pk = $1 AND h_product_pk = $2`, user(1), product(3))
		w.exec(`UPDATE dds.b_user_product_cnt SET order_cnt = 2 WHERE h_user_pk = $1 AND h_product_pk = $2`, user(2), product(3))
		w.exec(`UPDATE dds.b_user_category_cnt SET order_cnt = 2 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza"))
		w.exec(`UPDATE dds.b_user_category_cnt SET order_cnt = 2, pending = true WHERE h_user_pk = $1 AND h_category_pk = $2`, user(2), category("Pizza"))
		// The marts lag: user 2's Pizza counter waits to be copied (pending).
		w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 0 WHERE user_id = $1 AND product_id = $2`, user(1), product(3))
		w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 2 WHERE user_id = $1 AND product_id = $2`, user(2), product(3))
		w.exec(`UPDATE cdm.user_category_counters SET order_cnt = 2 WHERE user_id = $1 AND category_id = $2`, user(1), category("Pizza"))
		rep = w.verify()
		if !rep.Clean() || len(rep.InFlight) != 1 || short(rep.InFlight[0]) != (want{"cdm.user_category_counters", "count", 2, "Pizza", 2, 1, ""}) {
			t.Errorf("pending mart copy: %d mismatches, in flight %+v", rep.Mismatches(), rep.InFlight)
		}
		w.exec(`UPDATE cdm.user_category_counters SET order_cnt = 2 WHERE user_id = $1 AND category_id = $2`, user(2), category("Pizza"))
		if rep := w.verify(); !rep.Clean() || len(rep.InFlight) != 0 {
			t.Errorf("caught up: %+v", rep)
		}
	})

	t.Run("orphans", func(t *testing.T) {
		// The FOREIGN KEYs would refuse these rows; CONTRACT §6 lets them go, so
		// write as a replica does (no FK triggers).
		ctx := context.Background()
		conn, err := w.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		ghost := order(999)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`SET session_replication_role = replica`, nil},
			{`INSERT INTO dds.l_order_product VALUES ($1, $2, $3, $4, 'test')`, []any{vault.Link(ghost, product(1)), ghost, product(1), t0}},
			{`INSERT INTO dds.s_order_owner VALUES ($1, $2, $3, $4, $5, $6, $7, 'test')`,
				[]any{order(1), user(1), restaurant, []uuid.UUID{product(1), vault.Hub("product-gone")}, t0.Add(-time.Hour), uuid.New(), t0}},
			{`RESET session_replication_role`, nil},
		} {
			if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		rep := w.verify()
		got := map[string]int64{}
		for _, o := range rep.Orphans {
			if o.Orphans > 0 {
				got[o.Table+"."+o.Column] = o.Orphans
			}
		}
		if len(got) != 2 || got["dds.l_order_product.h_order_pk"] != 1 || got["dds.s_order_owner.h_product_pks"] != 1 {
			t.Errorf("orphans %v, want dds.l_order_product.h_order_pk and dds.s_order_owner.h_product_pks: 1 each", got)
		}
		if rep.OrphanRows() != 2 || rep.Mismatches() != 2 || len(rep.Differences) != 0 {
			t.Errorf("orphan rows %d, mismatches %d, differences %+v", rep.OrphanRows(), rep.Mismatches(), rep.Differences)
		}
		var buf bytes.Buffer
		if err := rep.Write(&buf, 50); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "orphans: dds.l_order_product.h_order_pk: 1 of") {
			t.Errorf("report:\n%s", buf.String())
		}
	})
}

// TestOrphanCheckCoversEveryLinkAndSatellite: every hub column (h_*_pk,
// h_*_pks) of every dds.l_* and dds.s_* table is checked, so a new link or
// satellite cannot be forgotten.
func TestOrphanCheckCoversEveryLinkAndSatellite(t *testing.T) {
	w := newWorld(t)
	rows, err := w.pool.Query(context.Background(), `
		SELECT 'dds.' || table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'dds' AND (table_name LIKE 'l\_%' OR table_name LIKE 's\_%')
		  AND column_name ~ '^h_.*_pks?$'
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, tbl+"."+col)
	}
	if rows.Err() != nil || len(cols) < 17 {
		t.Fatalf("catalog: %v, %d columns", rows.Err(), len(cols))
	}
	checked := map[string]bool{}
	for _, o := range w.verify().Orphans {
		checked[o.Table+"."+o.Column] = true
	}
	for _, c := range cols {
		if !checked[c] {
			t.Errorf("%s names a hub and verify_orphans.sql does not check it", c)
		}
	}
}

// TestVerifyAsDdsRole: the dds worker's role (PG_SET_ROLE) may run the
// check and record it (migration 013's grants), and the record reads back.
func TestVerifyAsDdsRole(t *testing.T) {
	w := newWorld(t)
	w.build()
	w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 7 WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
	ctx := context.Background()
	pool, err := db.OpenAs(ctx, w.dsn, db.Role("dds"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rep, err := verify.Run(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 1 {
		t.Fatalf("mismatches %d, want 1", rep.Mismatches())
	}
	id, err := verify.Record(ctx, pool, rep)
	if err != nil {
		t.Fatal(err)
	}
	var rowsChecked, mismatches, orphans int64
	var detail []byte
	if err := w.pool.QueryRow(ctx, `SELECT rows_checked, mismatches, orphans, detail FROM stg.verify_runs WHERE id = $1`, id).
		Scan(&rowsChecked, &mismatches, &orphans, &detail); err != nil {
		t.Fatal(err)
	}
	if rowsChecked != rep.RowsChecked() || mismatches != 1 || orphans != 0 {
		t.Errorf("recorded rows %d mismatches %d orphans %d", rowsChecked, mismatches, orphans)
	}
	var d struct {
		Differences int                 `json:"differences"`
		First       []verify.Difference `json:"first"`
	}
	if err := json.Unmarshal(detail, &d); err != nil || d.Differences != 1 || len(d.First) != 1 || d.First[0].Got != 7 {
		t.Errorf("detail %s (err %v)", detail, err)
	}
	// The reader (dashboards) may read the runs.
	reader, err := db.OpenReader(ctx, w.dsn, true)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var n int
	if err := reader.QueryRow(ctx, `SELECT count(*) FROM stg.verify_runs`).Scan(&n); err != nil || n != 1 {
		t.Errorf("reader: %d runs, err %v", n, err)
	}
}

// TestVerifyWaitsForCounterFold: the snapshot is taken between counter
// folds: while a pipeline's transaction holds a counter lock, Run waits.
func TestVerifyWaitsForCounterFold(t *testing.T) {
	w := newWorld(t)
	w.build()
	ctx := context.Background()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, db.Query("counters_lock"), 2); err != nil {
		t.Fatal(err)
	}
	// Half a fold: the counter moved, the mart not yet (same transaction).
	if _, err := tx.Exec(ctx, `UPDATE dds.b_user_category_cnt SET order_cnt = 9 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza")); err != nil {
		t.Fatal(err)
	}
	done := make(chan verify.Report, 1)
	go func() {
		rep, err := verify.Run(ctx, w.pool)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	select {
	case rep := <-done:
		t.Fatalf("Run did not wait for the counter lock: %+v", rep)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := tx.Exec(ctx, `UPDATE dds.b_user_category_cnt SET order_cnt = 2 WHERE h_user_pk = $1 AND h_category_pk = $2`, user(1), category("Pizza")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := <-done; !rep.Clean() {
		t.Errorf("after the fold: %+v", rep.Differences)
	}
	// The locks are released: a fold can take them at once.
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	tx2, err := w.pool.Begin(tctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback(ctx)
	for _, f := range []int{1, 2} {
		if _, err := tx2.Exec(tctx, db.Query("counters_lock"), f); err != nil {
			t.Fatalf("counter lock %d after Run: %v", f, err)
		}
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }

// TestVerifyOnOneConnection: a pool of one connection (pool_max_conns=1)
// runs the checks one after the other rather than waiting for a second.
func TestVerifyOnOneConnection(t *testing.T) {
	w := newWorld(t)
	w.build()
	w.exec(`UPDATE cdm.user_product_counters SET order_cnt = 5 WHERE user_id = $1 AND product_id = $2`, user(1), product(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, w.dsn+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rep, err := verify.Run(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches() != 1 || len(rep.Orphans) == 0 {
		t.Errorf("mismatches %d, orphan checks %d; want 1 and every check", rep.Mismatches(), len(rep.Orphans))
	}
}
