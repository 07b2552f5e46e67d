package simulator

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/refdata"
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
