package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/orderflow/orderflow/refdata"
)

// orderJSON writes an order event by hand, independently of the generator.
func orderJSON(id int64, user string, r refdata.Restaurant, items []refdata.MenuItem, final, updateTS string) []byte {
	var its []string
	cost := 0.0
	for _, it := range items {
		its = append(its, fmt.Sprintf(`{"id":%q,"name":%q,"price":%v,"quantity":2}`, it.ID, it.Name, it.Price))
		cost += 2 * it.Price
	}
	return fmt.Appendf(nil, `{"object_id":%d,"object_type":"order","sent_dttm":%q,"payload":{"restaurant":{"id":%q},`+
		`"date":%q,"user":{"id":%q},"order_items":[%s],"bonus_payment":0,"cost":%v,"payment":%v,"bonus_grant":0,`+
		`"statuses":[{"status":%q,"dttm":%q}],"final_status":%q,"update_ts":%q}}`,
		id, updateTS, r.ID, updateTS, user, bytes.Join(toBytes(its), []byte(",")), cost, cost, final, updateTS, final, updateTS)
}

func toBytes(s []string) [][]byte {
	var out [][]byte
	for _, x := range s {
		out = append(out, []byte(x))
	}
	return out
}

// smallWorld is a world of 5 users and 2 restaurants, with the first dish
// of the first restaurant's menu (a) and its first dish of another
// category (b).
func smallWorld() (w *World, a, b refdata.MenuItem) {
	w = NewWorld(Options{Seed: 5, Users: 5, Restaurants: 2, End: testEnd})
	menu := w.Restaurants[0].Menu
	a = menu[0]
	for _, m := range menu {
		if m.Category != a.Category {
			b = m
			break
		}
	}
	return w, a, b
}

func TestExpectHandBuilt(t *testing.T) {
	w, a, b := smallWorld()
	r := w.Restaurants[0]
	u1, u2, u3, unk := w.Users[0].ID, w.Users[1].ID, w.Users[2].ID, "ffffffffffffffffffffffff"
	ab, onlyA, onlyB := []refdata.MenuItem{a, b}, []refdata.MenuItem{a}, []refdata.MenuItem{b}
	ok := func(v []byte) Message { return Message{Value: v} }
	msgs := []Message{
		ok(orderJSON(1, u1, r, ab, "CLOSED", "2024-09-20 10:00:00")),                                                                   // 0: A v1
		ok(orderJSON(2, u1, r, onlyA, "CLOSED", "2024-09-20 10:05:00")),                                                                // 1: B
		ok(orderJSON(1, u1, r, ab, "CANCELLED", "2024-09-20 11:00:00")),                                                                // 2: A v2 cancels A
		ok(orderJSON(2, u1, r, onlyA, "CLOSED", "2024-09-20 10:05:00")),                                                                // 3: B re-sent
		ok(orderJSON(3, unk, r, onlyA, "CLOSED", "2024-09-20 10:10:00")),                                                               // 4: C, unknown user
		ok(orderJSON(4, u2, r, onlyB, "CLOSED", "2024-09-20 12:00:00")),                                                                // 5: D v2
		ok(orderJSON(4, u2, r, onlyB, "CANCELLED", "2024-09-20 11:30:00")),                                                             // 6: D v1, late
		ok(orderJSON(5, u2, r, onlyA, "CANCELLED", "2024-09-20 10:00:00")),                                                             // 7: E
		{Value: []byte(`{"object_id": 9, "obj`), WantReason: ReasonMalformedJSON},                                                      // 8
		ok(orderJSON(6, u2, r, onlyA, "CANCELLED", "2024-09-20 13:00:00")),                                                             // 9: F
		ok(orderJSON(6, u2, r, onlyA, "CLOSED", "2024-09-20 13:00:00")),                                                                // 10: F tie, later wins
		{Value: orderJSON(7, u1, w.missing, w.missing.Menu[:1], "CLOSED", "2024-09-20 13:00:00"), WantReason: ReasonUnknownRestaurant}, // 11
		ok(orderJSON(8, u3, r, onlyA, "CLOSED", "2024-09-20 09:00:00")),                                                                // 12: G v1, u3's only order
		ok(orderJSON(8, u1, r, onlyA, "CANCELLED", "2024-09-20 09:30:00")),                                                             // 13: G v2 moves it to u1
	}
	got := w.Expect(msgs)
	want := Expected{
		UserProducts: map[[2]string]int{{u1, a.ID}: 1, {unk, a.ID}: 1, {u2, b.ID}: 1, {u2, a.ID}: 1},
		UserCategories: map[[2]string]int{
			{u1, a.Category}: 1, {unk, a.Category}: 1, {u2, b.Category}: 1, {u2, a.Category}: 1,
		},
		ProductNames: map[string]string{a.ID: a.Name, b.ID: b.Name},
		Orders:       7,
		Users:        map[string]bool{u1: true, u2: true, u3: true, unk: true},
		Owners:       map[string]bool{u1: true, u2: true, unk: true},
		Rejected:     map[int]string{8: ReasonMalformedJSON, 11: ReasonUnknownRestaurant},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Expect:\n got %+v\nwant %+v", got, want)
	}
}

func TestExpectHistory(t *testing.T) {
	w := newTestWorld(6)
	msgs := w.History(20000)
	e := w.Expect(msgs)
	if e.Orders != 20000 {
		t.Errorf("%d orders, want 20000", e.Orders)
	}
	maxP, maxC := slices.Max(slices.Collect(maps.Values(e.UserProducts))), slices.Max(slices.Collect(maps.Values(e.UserCategories)))
	if maxP < 10 || maxC < 10 {
		t.Errorf("largest counters: product %d, category %d; want 10+", maxP, maxC)
	}
	reasons := 0
	for _, m := range msgs {
		if m.WantReason != "" {
			reasons++
		}
	}
	if len(e.Rejected) != reasons {
		t.Errorf("%d rejected, want %d", len(e.Rejected), reasons)
	}
	wantP, wantC, moved := recount(t, w, msgs)
	if !reflect.DeepEqual(e.UserProducts, wantP) || !reflect.DeepEqual(e.UserCategories, wantC) {
		t.Error("Expect's counters differ from a recount by current version")
	}
	if moved < 100 {
		t.Errorf("%d orders whose current version has other owners than their first, want about 400", moved)
	}
	t.Logf("orders %d, users %d, products %d, user-product counters %d (max %d), user-category counters %d (max %d)",
		e.Orders, len(e.Users), len(e.ProductNames), len(e.UserProducts), maxP, len(e.UserCategories), maxC)
}

// TestExpectOwnerMoves: the current version alone decides the user,
// restaurant and items an order counts for, whatever the order of arrival.
func TestExpectOwnerMoves(t *testing.T) {
	w, p, q := smallWorld()
	r0, r1 := w.Restaurants[0], w.Restaurants[1]
	s := r1.Menu[0]
	a, b := w.Users[0].ID, w.Users[1].ID
	ok := func(v []byte) Message { return Message{Value: v} }
	one := func(m refdata.MenuItem) []refdata.MenuItem { return []refdata.MenuItem{m} }
	counts := func(e Expected) (map[[2]string]int, map[[2]string]int) { return e.UserProducts, e.UserCategories }
	check := func(name string, msgs []Message, wantP, wantC map[[2]string]int) {
		t.Helper()
		// Every order of arrival gives the same counters (no two versions
		// here share an update_ts).
		for _, perm := range permutations(len(msgs)) {
			in := make([]Message, len(msgs))
			for i, k := range perm {
				in[i] = msgs[k]
			}
			e := w.Expect(in)
			gotP, gotC := counts(e)
			if !reflect.DeepEqual(gotP, wantP) || !reflect.DeepEqual(gotC, wantC) {
				t.Errorf("%s, arrival %v:\n products   %v, want %v\n categories %v, want %v", name, perm, gotP, wantP, gotC, wantC)
			}
			ids := map[int64]bool{}
			for _, m := range msgs {
				var o oracleOrder
				if err := json.Unmarshal(m.Value, &o); err != nil {
					t.Fatal(err)
				}
				ids[o.ObjectID] = true
				if !e.Users[o.Payload.User.ID] {
					t.Errorf("%s: user %s of a loaded version is not in Users", name, o.Payload.User.ID)
				}
				if e.Owners[o.Payload.User.ID] && !e.Users[o.Payload.User.ID] {
					t.Errorf("%s: owner %s is not in Users", name, o.Payload.User.ID)
				}
			}
			if e.Orders != len(ids) {
				t.Errorf("%s, arrival %v: %d orders, want %d", name, perm, e.Orders, len(ids))
			}
		}
	}
	none := map[[2]string]int{}

	// Version 1: user A, CLOSED, product P. Version 2: user B, CLOSED, product Q.
	v1 := ok(orderJSON(1, a, r0, one(p), "CLOSED", "2024-09-20 10:00:00"))
	v2 := ok(orderJSON(1, b, r0, one(q), "CLOSED", "2024-09-20 11:00:00"))
	check("user and items move", []Message{v1, v2},
		map[[2]string]int{{b, q.ID}: 1}, map[[2]string]int{{b, q.Category}: 1})

	// An old version re-sent late changes nothing.
	check("stale re-send", []Message{v1, v2, v1},
		map[[2]string]int{{b, q.ID}: 1}, map[[2]string]int{{b, q.Category}: 1})

	// Another restaurant and its items; same user.
	v2r := ok(orderJSON(1, a, r1, one(s), "CLOSED", "2024-09-20 11:00:00"))
	check("restaurant moves", []Message{v1, v2r},
		map[[2]string]int{{a, s.ID}: 1}, map[[2]string]int{{a, s.Category}: 1})

	// Moved, then cancelled: nobody counts it.
	v3 := ok(orderJSON(1, b, r0, one(q), "CANCELLED", "2024-09-20 12:00:00"))
	check("moved then cancelled", []Message{v1, v2, v3}, none, none)

	// Cancelled at A, then moved to B and CLOSED: B counts it.
	v1c := ok(orderJSON(1, a, r0, one(p), "CANCELLED", "2024-09-20 10:00:00"))
	check("closed at the new user", []Message{v1c, v2},
		map[[2]string]int{{b, q.ID}: 1}, map[[2]string]int{{b, q.Category}: 1})

	// A keeps the count of another order with P: 1, not 2, and not 0.
	other := ok(orderJSON(2, a, r0, one(p), "CLOSED", "2024-09-20 09:00:00"))
	check("old user keeps other orders", []Message{v1, v2, other},
		map[[2]string]int{{a, p.ID}: 1, {b, q.ID}: 1}, map[[2]string]int{{a, p.Category}: 1, {b, q.Category}: 1})

	// Same update_ts: the later record wins.
	tie := ok(orderJSON(1, b, r0, one(q), "CLOSED", "2024-09-20 10:00:00"))
	if got, _ := counts(w.Expect([]Message{v1, tie})); !reflect.DeepEqual(got, map[[2]string]int{{b, q.ID}: 1}) {
		t.Errorf("tie, B later: %v", got)
	}
	if got, _ := counts(w.Expect([]Message{tie, v1})); !reflect.DeepEqual(got, map[[2]string]int{{a, p.ID}: 1}) {
		t.Errorf("tie, A later: %v", got)
	}
}

// permutations lists every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

// recount computes the counters from scratch: per object_id, the loadable
// version with the greatest update_ts (ties: the later message) gives the
// user and items. It also returns how many orders' current owners differ
// from those of their oldest version (least update_ts).
func recount(t *testing.T, w *World, msgs []Message) (products, categories map[[2]string]int, moved int) {
	t.Helper()
	type ver struct {
		d, first decoded
	}
	cur := map[int64]*ver{}
	for i, m := range msgs {
		if m.WantReason != "" {
			continue
		}
		d, err := checkOrder(w, m.Value)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		v := cur[d.id]
		if v == nil {
			cur[d.id] = &ver{d, d}
			continue
		}
		if !d.updateTS.Before(v.d.updateTS) {
			v.d = d
		}
		if d.updateTS.Before(v.first.updateTS) {
			v.first = d
		}
	}
	products, categories = map[[2]string]int{}, map[[2]string]int{}
	cat := map[string]string{}
	for _, r := range w.Restaurants {
		for _, m := range r.Menu {
			cat[m.ID] = m.Category
		}
	}
	for _, v := range cur {
		if owners(v.d) != owners(v.first) {
			moved++
		}
		if v.d.final != StatusClosed {
			continue
		}
		cats := map[string]bool{}
		for _, p := range v.d.items {
			products[[2]string{v.d.user, p}]++
			cats[cat[p]] = true
		}
		for c := range cats {
			categories[[2]string{v.d.user, c}]++
		}
	}
	return products, categories, moved
}
