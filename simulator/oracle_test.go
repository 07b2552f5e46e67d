package simulator

import (
	"bytes"
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

func TestExpectHandBuilt(t *testing.T) {
	w := NewWorld(Options{Seed: 5, Users: 5, Restaurants: 2, End: testEnd})
	r := w.Restaurants[0]
	a := r.Menu[0]
	var b refdata.MenuItem
	for _, m := range r.Menu {
		if m.Category != a.Category {
			b = m
			break
		}
	}
	u1, u2, unk := w.Users[0].ID, w.Users[1].ID, "ffffffffffffffffffffffff"
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
	}
	got := w.Expect(msgs)
	want := Expected{
		UserProducts: map[[2]string]int{{u1, a.ID}: 1, {unk, a.ID}: 1, {u2, b.ID}: 1, {u2, a.ID}: 1},
		UserCategories: map[[2]string]int{
			{u1, a.Category}: 1, {unk, a.Category}: 1, {u2, b.Category}: 1, {u2, a.Category}: 1,
		},
		ProductNames: map[string]string{a.ID: a.Name, b.ID: b.Name},
		Orders:       6,
		Users:        map[string]bool{u1: true, u2: true, unk: true},
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
	t.Logf("orders %d, users %d, products %d, user-product counters %d (max %d), user-category counters %d (max %d)",
		e.Orders, len(e.Users), len(e.ProductNames), len(e.UserProducts), maxP, len(e.UserCategories), maxC)
}
