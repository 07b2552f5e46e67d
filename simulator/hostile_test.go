package simulator

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/order"
)

// The reasons here are the pipeline's (CONTRACT §9).
func TestReasonsMatchOrder(t *testing.T) {
	for mine, theirs := range map[string]order.Reason{
		ReasonMalformedJSON: order.ReasonMalformedJSON, ReasonInvalidOrder: order.ReasonInvalidOrder,
		ReasonIgnoredObjectType: order.ReasonIgnoredObjectType, ReasonUnknownRestaurant: order.ReasonUnknownRestaurant,
		ReasonProductNotInMenu: order.ReasonNotInMenu, ReasonEmptyRecord: order.ReasonEmptyRecord,
		ReasonOutputTooLarge: order.ReasonOutputTooLarge, ReasonPoison: order.ReasonPoison,
	} {
		if mine != string(theirs) {
			t.Errorf("reason %q, the pipeline's is %q", mine, theirs)
		}
	}
	for _, k := range HostileKinds {
		r, ok := HostileReason[k]
		if !ok {
			t.Errorf("no reason for hostile kind %s", k)
		}
		if r != "" && !slices.Contains(order.Reasons, order.Reason(r)) {
			t.Errorf("kind %s: %q is not a CONTRACT §9 reason", k, r)
		}
	}
}

func TestHostileDeterministic(t *testing.T) {
	a, b := newTestWorld(21).Hostile(200, 60), newTestWorld(21).Hostile(200, 60)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different Hostile")
	}
	if reflect.DeepEqual(a, newTestWorld(22).Hostile(200, 60)) {
		t.Fatal("different seeds gave the same Hostile")
	}
}

func TestHostile(t *testing.T) {
	const valid, hostile = 400, 300
	w := newTestWorld(9)
	msgs := w.Hostile(valid, hostile)

	byKind := map[Kind]int{}
	for _, m := range msgs {
		byKind[m.Kind]++
	}
	if byKind[KindOrder] != valid {
		t.Errorf("%d valid orders, want %d", byKind[KindOrder], valid)
	}
	total := 0
	for _, k := range HostileKinds {
		total += byKind[k]
		want := (hostile - MaxOversize) / (len(HostileKinds) - 1)
		if k == KindOversize {
			want = MaxOversize
		}
		if byKind[k] < want || byKind[k] > want+1 {
			t.Errorf("%s: %d records, want %d", k, byKind[k], want)
		}
	}
	if total < hostile || len(msgs) != valid+total {
		t.Errorf("%d hostile records of %d messages, want %d among %d valid", total, len(msgs), hostile, valid)
	}
	t.Logf("kinds: %v", byKind)

	// Arrival order, timestamps and reasons.
	for i, m := range msgs {
		if i > 0 && !m.Timestamp.After(msgs[i-1].Timestamp) {
			t.Fatalf("message %d: timestamp %v not after %v", i, m.Timestamp, msgs[i-1].Timestamp)
		}
		if !m.Timestamp.Before(testEnd) {
			t.Fatalf("message %d at %v, after End", i, m.Timestamp)
		}
		want := ""
		if m.Kind != KindOrder {
			want = HostileReason[m.Kind]
		}
		if m.WantReason != want {
			t.Fatalf("message %d (%s): reason %q, want %q", i, m.Kind, m.WantReason, want)
		}
		if m.Tombstone != (m.Kind == KindTombstone) {
			t.Fatalf("message %d (%s): tombstone %v", i, m.Kind, m.Tombstone)
		}
		checkHostile(t, w, i, m)
	}

	// Versions: no two versions of an order share an update_ts; changes and
	// stale re-sends arrive both before and after what they replace.
	type ver struct {
		d   decoded
		pos int
	}
	versions := map[int64][]ver{}
	for i, m := range msgs {
		if m.WantReason != "" {
			continue
		}
		d, err := checkOrder(w, m.Value)
		if err != nil {
			t.Fatalf("message %d (%s) is loadable but: %v", i, m.Kind, err)
		}
		if d.id != m.ObjectID {
			t.Fatalf("message %d: object_id %d, Message.ObjectID %d", i, d.id, m.ObjectID)
		}
		versions[d.id] = append(versions[d.id], ver{d, i})
	}
	if len(versions) != valid {
		t.Errorf("%d loadable orders, want %d", len(versions), valid)
	}
	early, late, stale := 0, 0, 0
	for id, vs := range versions {
		byTS := map[time.Time]string{}
		for _, v := range vs {
			if o, ok := byTS[v.d.updateTS]; ok && o != owners(v.d)+v.d.final {
				t.Fatalf("order %d: two different versions at %v", id, v.d.updateTS)
			}
			byTS[v.d.updateTS] = owners(v.d) + v.d.final
		}
		for _, v := range vs {
			m := msgs[v.pos]
			switch m.Kind {
			case KindUserChange, KindRestaurantChange, KindItemsChange:
				// The version it replaces: the greatest update_ts below its own.
				var prev *ver
				for k := range vs {
					if o := &vs[k]; o.d.updateTS.Before(v.d.updateTS) && (prev == nil || o.d.updateTS.After(prev.d.updateTS)) {
						prev = o
					}
				}
				if prev == nil {
					t.Fatalf("message %d (%s): no older version of order %d", v.pos, m.Kind, id)
				}
				same := [3]bool{prev.d.user == v.d.user, prev.d.restaurant == v.d.restaurant,
					slices.Equal(slices.Sorted(slices.Values(prev.d.items)), slices.Sorted(slices.Values(v.d.items)))}
				want := map[Kind][3]bool{KindUserChange: {false, true, true}, KindRestaurantChange: {true, false, false},
					KindItemsChange: {true, true, false}}[m.Kind]
				if same != want {
					t.Fatalf("message %d (%s): same user/restaurant/items %v", v.pos, m.Kind, same)
				}
				if v.pos < prev.pos {
					early++
				} else {
					late++
				}
			case KindStaleResend:
				for _, o := range vs {
					if o.pos < v.pos && o.d.updateTS.After(v.d.updateTS) {
						stale++
						break
					}
				}
			}
		}
	}
	if early < 10 || late < 10 || stale < 10 {
		t.Errorf("changes before / after the version they replace: %d / %d; stale re-sends after a newer version: %d", early, late, stale)
	}

	// The oracle: every valid order, counted by its current version, and
	// every hostile record rejected with its reason.
	e := w.Expect(msgs)
	if e.Orders != valid {
		t.Errorf("Expect: %d orders, want %d", e.Orders, valid)
	}
	rejected := 0
	for i, m := range msgs {
		if m.WantReason != "" {
			rejected++
			if e.Rejected[i] != m.WantReason {
				t.Errorf("Expect: message %d rejected as %q, want %q", i, e.Rejected[i], m.WantReason)
			}
		}
	}
	if len(e.Rejected) != rejected {
		t.Errorf("Expect: %d rejected, want %d", len(e.Rejected), rejected)
	}
	wantP, wantC, moved := recount(t, w, msgs)
	if !reflect.DeepEqual(e.UserProducts, wantP) || !reflect.DeepEqual(e.UserCategories, wantC) {
		t.Error("Expect's counters differ from a recount by current version")
	}
	if moved < 40 {
		t.Errorf("%d orders moved to other owners, want about %d", moved, 3*(hostile/len(HostileKinds)))
	}
}

func TestHostileWithoutValid(t *testing.T) {
	w := newTestWorld(10)
	msgs := w.Hostile(0, 20)
	for i, m := range msgs {
		if m.WantReason == "" {
			t.Fatalf("message %d (%s) loads, but there are no valid orders", i, m.Kind)
		}
	}
	if len(msgs) != 20 {
		t.Fatalf("%d messages, want 20", len(msgs))
	}
	if e := w.Expect(msgs); e.Orders != 0 || len(e.Rejected) != 20 {
		t.Fatalf("Expect: %d orders, %d rejected", e.Orders, len(e.Rejected))
	}
}

// Produce sends a tombstone as a null value and an empty value as an empty,
// non-null one.
func TestProduceTombstone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, cl := fakeKafka(t, "orders")
	now := time.Now().Truncate(time.Millisecond)
	msgs := []Message{
		{Tombstone: true, Value: []byte("ignored"), Timestamp: now},
		{Value: []byte{}, Timestamp: now},
		{Timestamp: now}, // nil Value, no tombstone: empty
		{Value: []byte(`{}`), Timestamp: now},
	}
	if err := Produce(ctx, cl, "orders", msgs, nil); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(ctx, t, c, "orders", len(msgs))
	if len(recs) != len(msgs) {
		t.Fatalf("%d records", len(recs))
	}
	if recs[0].Value != nil {
		t.Errorf("tombstone arrived as %q", recs[0].Value)
	}
	for i := 1; i <= 2; i++ {
		if recs[i].Value == nil || len(recs[i].Value) != 0 {
			t.Errorf("record %d: empty value arrived as %#v", i, recs[i].Value)
		}
	}
	if string(recs[3].Value) != `{}` {
		t.Errorf("record 3: %q", recs[3].Value)
	}
}
