package simulator

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

func TestLoadableMessages(t *testing.T) {
	w := newTestWorld(1)
	known := map[string]bool{}
	for _, u := range w.Users {
		known[u.ID] = true
	}
	for i, m := range w.History(5000) {
		if m.WantReason != "" {
			continue
		}
		d, err := checkOrder(w, m.Value)
		if err != nil {
			t.Fatalf("message %d (%s): %v\n%s", i, m.Kind, err, m.Value)
		}
		if d.id != m.ObjectID {
			t.Fatalf("message %d: object_id %d, Message.ObjectID %d", i, d.id, m.ObjectID)
		}
		if known[d.user] == (m.Kind == KindUnknownUser) {
			t.Fatalf("message %d (%s): user %s known=%v", i, m.Kind, d.user, known[d.user])
		}
		if m.Kind == KindEscaped {
			if bytes.IndexFunc(m.Value, func(r rune) bool { return r >= 0x80 }) >= 0 || !bytes.Contains(m.Value, []byte(`\u04`)) {
				t.Fatalf("message %d is not ASCII-only with escapes: %s", i, m.Value)
			}
		}
	}
}

func TestMix(t *testing.T) {
	const n = 5000
	w := newTestWorld(2)
	msgs := w.History(n)
	want := map[Kind]int{
		KindResend: 150, KindStatusChange: 200, KindOutOfOrder: 50, KindUnknownUser: 50, KindEscaped: 100,
		KindUnknownRestaurant: 15, KindNotInMenu: 15, KindMalformedJSON: 10, KindInvalidOrder: 10, KindIgnoredType: 5,
		KindUserChange: 50, KindRestaurantChange: 25, KindItemsChange: 25,
		KindOrder: n - 50 - 100,
	}
	got := map[Kind]int{}
	loadable := map[int64]bool{}
	bad := map[int64]bool{}
	start := testEnd.Add(-7 * 24 * time.Hour)
	for i, m := range msgs {
		got[m.Kind]++
		if m.Timestamp.Before(start) || !m.Timestamp.Before(testEnd) {
			t.Fatalf("message %d at %v, outside the week", i, m.Timestamp)
		}
		if i > 0 && m.Timestamp.Before(msgs[i-1].Timestamp) {
			t.Fatalf("message %d is earlier than message %d", i, i-1)
		}
		if m.WantReason == "" {
			loadable[m.ObjectID] = true
			continue
		}
		if m.WantReason != string(m.Kind) {
			t.Fatalf("message %d: kind %s with reason %s", i, m.Kind, m.WantReason)
		}
		if m.ObjectID != 0 {
			bad[m.ObjectID] = true
		}
		checkRejected(t, w, i, m)
	}
	for k, c := range want {
		if got[k] < c*7/10 || got[k] > c*13/10 || got[k] == 0 {
			t.Errorf("%s: %d messages, want about %d", k, got[k], c)
		}
	}
	if len(loadable) != n {
		t.Errorf("%d distinct loadable orders, want %d", len(loadable), n)
	}
	for id := range bad {
		if loadable[id] {
			t.Errorf("object_id %d is used by a bad and a valid message", id)
		}
	}
	t.Logf("kinds: %v", got)
}

// checkRejected checks that a bad message is bad for its stated reason.
func checkRejected(t *testing.T, w *World, i int, m Message) {
	t.Helper()
	d, err := checkOrder(w, m.Value)
	switch m.Kind {
	case KindMalformedJSON:
		if json.Valid(m.Value) && utf8.Valid(m.Value) {
			t.Fatalf("message %d is well-formed: %q", i, m.Value)
		}
	case KindIgnoredType:
		if d.objectType != "payment" {
			t.Fatalf("message %d: object_type %q", i, d.objectType)
		}
	case KindUnknownRestaurant:
		if err == nil || d.restaurant != w.missing.ID {
			t.Fatalf("message %d: restaurant %s, err %v", i, d.restaurant, err)
		}
	case KindNotInMenu, KindInvalidOrder:
		if err == nil {
			t.Fatalf("message %d (%s) passes the checks: %s", i, m.Kind, m.Value)
		}
		if m.Kind == KindNotInMenu && !bytes.Contains([]byte(err.Error()), []byte("not in menu")) {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Kind == KindInvalidOrder && bytes.Contains([]byte(err.Error()), []byte("not in menu")) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}
