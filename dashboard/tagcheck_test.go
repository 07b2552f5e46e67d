package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/simulator"
)

// What TestPipelineTagsAPIAndDashboard checks the warehouse with: the bi
// views against the oracle, and the user and order it cancels a tag with.

// checkBIViews compares the bi views with the oracle.
func checkBIViews(t *testing.T, pool *pgxpool.Pool, want simulator.Expected, rules []rule) {
	t.Helper()
	ctx := context.Background()
	read := func(sql string) map[string]popularity {
		rows, _ := pool.Query(ctx, sql)
		got := map[string]popularity{}
		var name string
		var p popularity
		if _, err := pgx.ForEachRow(rows, []any{&name, &p.Users, &p.Orders, &p.UsersPct, &p.OrdersPct}, func() error {
			got[name] = p
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for view, exp := range map[string]map[string]popularity{
		`SELECT category_name, users, orders, users_pct::float8, orders_pct::float8 FROM bi.category_popularity`: expectCategories(want),
		`SELECT dish, users, orders, users_pct::float8, orders_pct::float8 FROM bi.dish_popularity`:              expectDishes(want),
	} {
		got := read(view)
		if len(got) != len(exp) || len(exp) == 0 {
			t.Errorf("%s: %d rows, want %d", view, len(got), len(exp))
		}
		for name, p := range exp {
			if got[name] != p {
				t.Errorf("%s: %s is %+v, want %+v", view, name, got[name], p)
			}
		}
	}
	holders := map[string]int64{}
	for k := range expectTags(want, rules) {
		holders[k[1]]++
	}
	rows, _ := pool.Query(ctx, `SELECT tag, users FROM bi.tag_counts`)
	var tag string
	var n int64
	seen := 0
	if _, err := pgx.ForEachRow(rows, []any{&tag, &n}, func() error {
		seen++
		if n != holders[tag] {
			t.Errorf("bi.tag_counts: %q has %d users, want %d", tag, n, holders[tag])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != len(rules) {
		t.Errorf("bi.tag_counts: %d rows, want one per rule (%d)", seen, len(rules))
	}
}

// userAtThreshold returns a user whose counter of a category rule is exactly
// the rule's threshold, setting that rule's threshold with SQL when nobody
// sits exactly on one.
func userAtThreshold(t *testing.T, pool *pgxpool.Pool, want simulator.Expected, rules []rule) (string, rule) {
	t.Helper()
	users := sortedKeys(want.Users)
	for _, r := range rules {
		if r.Category == nil {
			continue
		}
		for _, u := range users {
			if tagCounter(want, r, u) == r.Threshold {
				return u, r
			}
		}
	}
	for _, r := range rules {
		if r.Category == nil {
			continue
		}
		for _, u := range users {
			if n := tagCounter(want, r, u); n >= 2 {
				if _, err := pool.Exec(context.Background(), `UPDATE cdm.tag_rules SET threshold = $1 WHERE id = $2`, n, r.ID); err != nil {
					t.Fatal(err)
				}
				r.Threshold = n
				return u, r
			}
		}
	}
	t.Fatal("no user has 2 orders of any category: the history is too small")
	return "", rule{}
}

// cancellation returns a newer version, CANCELLED, of a closed order of user
// that holds a product of category.
func cancellation(t *testing.T, w *simulator.World, msgs []simulator.Message, user, category string) simulator.Message {
	t.Helper()
	cats := map[string]string{} // product id -> category
	for _, r := range w.Restaurants {
		for _, it := range r.Menu {
			cats[it.ID] = it.Category
		}
	}
	type version struct {
		ts  time.Time
		msg simulator.Message
		o   map[string]any
	}
	current := map[int64]version{}
	for _, m := range msgs {
		if m.WantReason != "" {
			continue
		}
		var o map[string]any
		dec := json.NewDecoder(bytes.NewReader(m.Value))
		dec.UseNumber()
		if err := dec.Decode(&o); err != nil {
			t.Fatal(err)
		}
		p := o["payload"].(map[string]any)
		ts, err := time.Parse(time.DateTime, p["update_ts"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := current[m.ObjectID]; !ok || !ts.Before(prev.ts) {
			current[m.ObjectID] = version{ts, m, o}
		}
	}
	ids := make([]int64, 0, len(current))
	for id := range current {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		v := current[id]
		p := v.o["payload"].(map[string]any)
		if p["user"].(map[string]any)["id"] != user || p["final_status"] != simulator.StatusClosed {
			continue
		}
		has := false
		for _, it := range p["order_items"].([]any) {
			has = has || cats[it.(map[string]any)["id"].(string)] == category
		}
		if !has {
			continue
		}
		ts := v.ts.Add(time.Minute).Format(time.DateTime)
		p["final_status"] = simulator.StatusCancelled
		p["update_ts"] = ts
		p["statuses"] = append([]any{map[string]any{"status": simulator.StatusCancelled, "dttm": ts}}, p["statuses"].([]any)...)
		v.o["sent_dttm"] = time.Now().UTC().Format(time.DateTime)
		b, err := json.Marshal(v.o)
		if err != nil {
			t.Fatal(err)
		}
		return simulator.Message{Value: b, Timestamp: time.Now(), Kind: simulator.KindStatusChange, ObjectID: id}
	}
	t.Fatalf("user %s has no closed order of %s", user, category)
	return simulator.Message{}
}
