package verify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/vault"
)

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

func TestMain(m *testing.M) { testenv.Main(m) }
