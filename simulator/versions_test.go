package simulator

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestVersions(t *testing.T) {
	w := newTestWorld(3)
	msgs := w.History(5000)
	type seen struct {
		latest time.Time
		final  string
		owners string
		byTS   map[time.Time][]byte
	}
	orders := map[int64]*seen{}
	downs := 0
	moves := map[Kind]int{}
	for i, m := range msgs {
		if m.WantReason != "" {
			continue
		}
		d, err := checkOrder(w, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		s := orders[d.id]
		if s == nil {
			if m.Kind != KindOrder && m.Kind != KindUnknownUser && m.Kind != KindEscaped {
				t.Fatalf("message %d (%s) is the first of order %d", i, m.Kind, d.id)
			}
			orders[d.id] = &seen{d.updateTS, d.final, owners(d), map[time.Time][]byte{d.updateTS: m.Value}}
			continue
		}
		if prev, ok := s.byTS[d.updateTS]; ok && !bytes.Equal(prev, m.Value) {
			t.Fatalf("message %d: two different versions of %d share update_ts", i, d.id)
		}
		switch m.Kind {
		case KindResend:
			if !bytes.Equal(s.byTS[d.updateTS], m.Value) {
				t.Fatalf("message %d: re-send differs", i)
			}
		case KindStatusChange:
			if !d.updateTS.After(s.latest) || d.final == s.final {
				t.Fatalf("message %d: status change %s at %v after %s at %v", i, d.final, d.updateTS, s.final, s.latest)
			}
			if s.final == StatusClosed {
				downs++
			}
		case KindOutOfOrder:
			if !d.updateTS.Before(s.latest) {
				t.Fatalf("message %d: out-of-order version at %v is not older than %v", i, d.updateTS, s.latest)
			}
		case KindUserChange, KindRestaurantChange, KindItemsChange:
			if !d.updateTS.After(s.latest) || d.final != s.final {
				t.Fatalf("message %d: %s at %v (%s) after %v (%s)", i, m.Kind, d.updateTS, d.final, s.latest, s.final)
			}
			var prev decoded
			prev, _ = checkOrder(w, s.byTS[s.latest])
			sameUser, sameRest, sameItems := prev.user == d.user, prev.restaurant == d.restaurant,
				slices.Equal(slices.Sorted(slices.Values(prev.items)), slices.Sorted(slices.Values(d.items)))
			want := map[Kind][3]bool{
				KindUserChange:       {false, true, true},
				KindRestaurantChange: {true, false, false},
				KindItemsChange:      {true, true, false},
			}[m.Kind]
			if [3]bool{sameUser, sameRest, sameItems} != want {
				t.Fatalf("message %d (%s): same user/restaurant/items %v, want %v", i, m.Kind, [3]bool{sameUser, sameRest, sameItems}, want)
			}
			moves[m.Kind]++
		default:
			t.Fatalf("message %d (%s) repeats order %d", i, m.Kind, d.id)
		}
		if m.Kind != KindUserChange && m.Kind != KindRestaurantChange && m.Kind != KindItemsChange && owners(d) != s.owners {
			t.Fatalf("message %d (%s) changes the owners of order %d", i, m.Kind, d.id)
		}
		s.byTS[d.updateTS] = m.Value
		if d.updateTS.After(s.latest) {
			s.latest, s.final, s.owners = d.updateTS, d.final, owners(d)
		}
	}
	if downs == 0 {
		t.Error("no CLOSED order became CANCELLED")
	}
	if moves[KindUserChange] < 30 || moves[KindRestaurantChange] < 12 || moves[KindItemsChange] < 12 {
		t.Errorf("owner changes %v, want about 50, 25, 25", moves)
	}
}

// owners is the user, restaurant and sorted item ids of an order version.
func owners(d decoded) string {
	return fmt.Sprint(d.user, " ", d.restaurant, " ", slices.Sorted(slices.Values(d.items)))
}

func TestLive(t *testing.T) {
	w := newTestWorld(4)
	latest := map[int64]time.Time{}
	var maxID int64
	for _, m := range w.History(1000) {
		if m.WantReason == "" {
			d, _ := checkOrder(w, m.Value)
			if d.updateTS.After(latest[d.id]) {
				latest[d.id] = d.updateTS
			}
		}
		maxID = max(maxID, m.ObjectID)
	}
	changes := 0
	for i := range 500 {
		batch := w.Live(testEnd.Add(time.Duration(i) * 12 * time.Second))
		if batch[0].Kind != KindOrder || batch[0].ObjectID <= maxID {
			t.Fatalf("minute %d: first message %s id %d", i, batch[0].Kind, batch[0].ObjectID)
		}
		maxID = batch[0].ObjectID
		for _, m := range batch {
			d, err := checkOrder(w, m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == KindStatusChange {
				changes++
				if _, ok := latest[d.id]; !ok || !d.updateTS.After(latest[d.id]) {
					t.Fatalf("status change of %d at %v, latest was %v", d.id, d.updateTS, latest[d.id])
				}
			}
			latest[d.id] = d.updateTS
		}
	}
	if changes < 25 || changes > 90 {
		t.Errorf("%d status changes in 500 live batches, want about 50", changes)
	}
}
