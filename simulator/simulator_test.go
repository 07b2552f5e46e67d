package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/refdata"
	"github.com/redis/go-redis/v9"
)

var testEnd = time.Date(2024, 9, 23, 12, 0, 0, 0, time.UTC)

func newTestWorld(seed int64) *World {
	return NewWorld(Options{Seed: seed, Users: 3000, Restaurants: 8, End: testEnd})
}

// decoded is a strictly checked order event.
type decoded struct {
	id         int64
	objectType string
	restaurant string
	user       string
	items      []string
	final      string
	updateTS   time.Time
}

// checkOrder validates an order event against CONTRACT §2 and the world's menus.
func checkOrder(w *World, b []byte) (decoded, error) {
	var d decoded
	if !utf8.Valid(b) {
		return d, fmt.Errorf("invalid UTF-8")
	}
	var doc struct {
		ObjectID   *int64 `json:"object_id"`
		ObjectType string `json:"object_type"`
		SentDttm   string `json:"sent_dttm"`
		Payload    *struct {
			Restaurant struct{ ID string } `json:"restaurant"`
			Date       string              `json:"date"`
			User       struct{ ID string } `json:"user"`
			OrderItems []struct {
				ID       string   `json:"id"`
				Name     string   `json:"name"`
				Price    *float64 `json:"price"`
				Quantity *int64   `json:"quantity"`
			} `json:"order_items"`
			BonusPayment *float64 `json:"bonus_payment"`
			Cost         *float64 `json:"cost"`
			Payment      *float64 `json:"payment"`
			Statuses     []struct{ Status, Dttm string }
			FinalStatus  string `json:"final_status"`
			UpdateTS     string `json:"update_ts"`
		} `json:"payload"`
	}
	// Typed fields: a number sent as a string or a fractional quantity fails.
	if err := json.Unmarshal(b, &doc); err != nil {
		return d, err
	}
	if doc.ObjectID == nil || doc.Payload == nil {
		return d, fmt.Errorf("object_id or payload missing")
	}
	id := *doc.ObjectID
	if id <= 0 {
		return d, fmt.Errorf("object_id %v", id)
	}
	d.id, d.objectType = id, doc.ObjectType
	if doc.ObjectType != "order" {
		return d, fmt.Errorf("object_type %q", doc.ObjectType)
	}
	p := doc.Payload
	for name, s := range map[string]string{"sent_dttm": doc.SentDttm, "date": p.Date, "update_ts": p.UpdateTS} {
		if _, err := time.Parse(tsLayout, s); err != nil {
			return d, fmt.Errorf("%s: %v", name, err)
		}
	}
	d.updateTS, _ = time.Parse(tsLayout, p.UpdateTS)
	if p.Restaurant.ID == "" || p.User.ID == "" {
		return d, fmt.Errorf("restaurant or user id empty")
	}
	d.restaurant, d.user, d.final = p.Restaurant.ID, p.User.ID, p.FinalStatus
	if p.FinalStatus != StatusClosed && p.FinalStatus != StatusCancelled {
		return d, fmt.Errorf("final_status %q", p.FinalStatus)
	}
	if p.Cost == nil || p.Payment == nil || p.BonusPayment == nil {
		return d, fmt.Errorf("cost, payment or bonus_payment missing")
	}
	cost, payment, bonus := *p.Cost, *p.Payment, *p.BonusPayment
	if cost < 0 || payment < 0 || payment != cost-bonus {
		return d, fmt.Errorf("cost %v payment %v bonus %v", cost, payment, bonus)
	}
	if len(p.OrderItems) < 1 || len(p.OrderItems) > 5 {
		return d, fmt.Errorf("%d order_items", len(p.OrderItems))
	}
	var rest refdata.Restaurant
	for _, r := range w.Restaurants {
		if r.ID == p.Restaurant.ID {
			rest = r
		}
	}
	if rest.ID == "" {
		return d, fmt.Errorf("unknown restaurant %s", p.Restaurant.ID)
	}
	sum := 0.0
	for _, it := range p.OrderItems {
		if it.Price == nil || it.Quantity == nil {
			return d, fmt.Errorf("item price or quantity missing")
		}
		q, price := *it.Quantity, *it.Price
		if q < 1 || q > 5 {
			return d, fmt.Errorf("quantity %v", q)
		}
		mi, ok := rest.Item(it.ID)
		if !ok {
			return d, fmt.Errorf("product %s not in menu", it.ID)
		}
		if mi.Price != price || mi.Name != it.Name {
			return d, fmt.Errorf("item %s differs from the menu", it.ID)
		}
		if slices.Contains(d.items, it.ID) {
			return d, fmt.Errorf("item %s twice", it.ID)
		}
		d.items = append(d.items, it.ID)
		sum += price * float64(q)
	}
	if sum != cost {
		return d, fmt.Errorf("cost %v, items sum to %v", cost, sum)
	}
	return d, nil
}

func TestDeterministic(t *testing.T) {
	a, b := newTestWorld(42), newTestWorld(42)
	ha, hb := a.History(3000), b.History(3000)
	if !reflect.DeepEqual(ha, hb) {
		t.Fatal("same seed gave different History")
	}
	for i := range 100 {
		now := testEnd.Add(time.Duration(i) * time.Minute)
		if !reflect.DeepEqual(a.Live(now), b.Live(now)) {
			t.Fatalf("same seed gave different Live at minute %d", i)
		}
	}
	if reflect.DeepEqual(newTestWorld(43).History(100), newTestWorld(42).History(100)) {
		t.Fatal("different seeds gave the same History")
	}
}

func TestWorld(t *testing.T) {
	w := newTestWorld(7)
	if len(w.Users) != 3000 || len(w.Restaurants) != 8 {
		t.Fatalf("%d users, %d restaurants", len(w.Users), len(w.Restaurants))
	}
	ids := map[string]bool{}
	dishNames := map[string]int{}
	cats := map[string]bool{}
	addID := func(id string) {
		if len(id) != 24 || ids[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		ids[id] = true
	}
	for _, u := range w.Users {
		addID(u.ID)
		if u.Name == "" || u.Login == "" || !utf8.ValidString(u.Name) {
			t.Fatalf("bad user %+v", u)
		}
	}
	for _, r := range w.Restaurants {
		addID(r.ID)
		if len(r.Menu) < 10 || len(r.Menu) > 25 {
			t.Fatalf("%s has %d dishes", r.Name, len(r.Menu))
		}
		for _, m := range r.Menu {
			addID(m.ID)
			dishNames[m.Name]++
			cats[m.Category] = true
		}
	}
	for _, c := range []string{"Пицца", "Выпечка", "Супы", "Закуски", "Салаты", "Десерты", "Напитки", "Горячее", "Роллы"} {
		if !cats[c] {
			t.Errorf("category %s missing", c)
		}
	}
	if len(cats) < 8 || len(cats) > 10 {
		t.Errorf("%d categories", len(cats))
	}
	shared := 0
	for _, n := range dishNames {
		if n > 1 {
			shared++
		}
	}
	if shared == 0 {
		t.Error("no dish name is shared between restaurants")
	}
	if ids[w.missing.ID] {
		t.Error("the missing restaurant is among the saved ones")
	}
}

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

func TestSaveRefDataRedis(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("this test needs Redis at 127.0.0.1:6379 (start redis-server): %v", err)
	}
	// A seed from the clock gives ids no other test run uses.
	w := NewWorld(Options{Seed: time.Now().UnixNano(), Users: 50, Restaurants: 3, End: time.Now()})
	var saved, absent []string
	for _, u := range w.Users {
		saved = append(saved, u.ID)
	}
	for _, r := range w.Restaurants {
		saved = append(saved, r.ID)
	}
	absent = append([]string{w.missing.ID}, w.unknownUsers...)
	all := append(slices.Clone(saved), absent...)
	if n, err := rdb.Exists(ctx, all...).Result(); err != nil || n != 0 {
		t.Fatalf("keys already in Redis: %d, %v", n, err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), all...) })

	if err := w.SaveRefData(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	snap, err := refdata.NewStore(rdb).Lookup(ctx, append(slices.Clone(saved[:len(w.Users)]), w.unknownUsers...),
		append(slices.Clone(saved[len(w.Users):]), w.missing.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Broken) != 0 {
		t.Fatalf("broken values: %v", snap.Broken)
	}
	for _, u := range w.Users {
		if !reflect.DeepEqual(snap.Users[u.ID], u) {
			t.Fatalf("user %s: got %+v, want %+v", u.ID, snap.Users[u.ID], u)
		}
	}
	for _, r := range w.Restaurants {
		if !reflect.DeepEqual(snap.Restaurants[r.ID], r) {
			t.Fatalf("restaurant %s differs after the round trip", r.ID)
		}
	}
	if n, err := rdb.Exists(ctx, absent...).Result(); err != nil || n != 0 {
		t.Fatalf("%d of the missing restaurant and unknown users are in Redis (%v)", n, err)
	}
	if len(snap.Users) != len(w.Users) || len(snap.Restaurants) != len(w.Restaurants) {
		t.Fatalf("lookup found %d users, %d restaurants", len(snap.Users), len(snap.Restaurants))
	}
}
