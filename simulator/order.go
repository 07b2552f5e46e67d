package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf16"

	"github.com/orderflow/orderflow/refdata"
)

// Final statuses.
const (
	StatusClosed    = "CLOSED"
	StatusCancelled = "CANCELLED"
)

// The wire format of an order event (CONTRACT §2), fields in the spec's order.
type (
	wireOrder struct {
		ObjectID   int64       `json:"object_id"`
		ObjectType string      `json:"object_type"`
		SentDttm   string      `json:"sent_dttm"`
		Payload    wirePayload `json:"payload"`
	}
	wirePayload struct {
		Restaurant   idRef      `json:"restaurant"`
		Date         string     `json:"date"`
		User         idRef      `json:"user"`
		OrderItems   []wireItem `json:"order_items"`
		BonusPayment float64    `json:"bonus_payment"`
		Cost         float64    `json:"cost"`
		Payment      float64    `json:"payment"`
		BonusGrant   float64    `json:"bonus_grant"`
		Statuses     []statusAt `json:"statuses"`
		FinalStatus  string     `json:"final_status"`
		UpdateTS     string     `json:"update_ts"`
	}
	idRef struct {
		ID string `json:"id"`
	}
	wireItem struct {
		ID       string  `json:"id"`
		Name     string  `json:"name"`
		Price    float64 `json:"price"`
		Quantity int     `json:"quantity"`
	}
	statusAt struct {
		Status string `json:"status"`
		Dttm   string `json:"dttm"`
	}
)

// orderState is one version of an order.
type orderState struct {
	id       int64
	date     time.Time // when the order was completed; the same in every version
	updateTS time.Time
	payload  wirePayload
}

// newOrder makes a fresh order of user at restaurant r, completed at t.
// favDish is a menu index to include, or -1.
func (w *World) newOrder(id int64, t time.Time, user string, r refdata.Restaurant, favDish int) *orderState {
	p := wirePayload{Restaurant: idRef{r.ID}, User: idRef{user}}
	p.OrderItems, p.Cost = w.pickItems(r, favDish)
	if w.rnd.IntN(10) == 0 {
		p.BonusPayment = float64(w.rnd.IntN(int(p.Cost)/20+1) * 10)
	}
	p.Payment = p.Cost - p.BonusPayment
	p.FinalStatus = StatusClosed
	if w.rnd.IntN(100) >= 85 {
		p.FinalStatus = StatusCancelled
	}
	open := t.Add(-time.Duration(20+w.rnd.IntN(100)) * time.Minute)
	cooking := open.Add(time.Duration(1+w.rnd.IntN(5)) * time.Minute)
	p.Statuses = []statusAt{{p.FinalStatus, t.Format(tsLayout)}}
	if p.FinalStatus == StatusClosed {
		p.BonusGrant = float64(int(p.Payment) / 20)
		delivering := cooking.Add(t.Sub(cooking) / 2)
		p.Statuses = append(p.Statuses, statusAt{"DELIVERING", delivering.Format(tsLayout)})
	}
	p.Statuses = append(p.Statuses, statusAt{"COOKING", cooking.Format(tsLayout)}, statusAt{"OPEN", open.Format(tsLayout)})
	p.Date = t.Format(tsLayout)
	p.UpdateTS = p.Date
	return &orderState{id: id, date: t, updateTS: t, payload: p}
}

// pickItems draws 1-5 distinct dishes of r (favDish, a menu index, among
// them unless it is -1) with quantities, and returns them with their cost.
func (w *World) pickItems(r refdata.Restaurant, favDish int) ([]wireItem, float64) {
	n := min(len(r.Menu), pickWeighted(w, []int{25, 30, 25, 12, 8})+1)
	chosen := w.rnd.Perm(len(r.Menu))[:n]
	if favDish >= 0 && !slices.Contains(chosen, favDish) {
		chosen[0] = favDish
	}
	var items []wireItem
	cost := 0.0
	for _, k := range chosen {
		m := r.Menu[k]
		q := pickWeighted(w, []int{50, 25, 12, 8, 5}) + 1
		items = append(items, wireItem{ID: m.ID, Name: m.Name, Price: m.Price, Quantity: q})
		cost += m.Price * float64(q)
	}
	return items, cost
}

// reprice recomputes cost, payment and bonus_grant from the items, keeping
// the bonus payment when it still fits.
func (p *wirePayload) reprice() {
	p.Cost = 0
	for _, it := range p.OrderItems {
		p.Cost += it.Price * float64(it.Quantity)
	}
	if p.BonusPayment > p.Cost {
		p.BonusPayment = 0
	}
	p.Payment = p.Cost - p.BonusPayment
	p.BonusGrant = 0
	if p.FinalStatus == StatusClosed {
		p.BonusGrant = float64(int(p.Payment) / 20)
	}
}

// changed is the next version of o at t (> o.updateTS) with another owner,
// as kind says: KindUserChange gives it to another known user,
// KindRestaurantChange moves it to another restaurant with items of that
// menu, KindItemsChange keeps the restaurant and draws another item list.
// The status stays. With a single restaurant a restaurant change becomes an
// items change; with a single user a user change takes an unknown user.
func (w *World) changed(o *orderState, kind Kind, t time.Time) *orderState {
	n := *o
	p := &n.payload
	p.Statuses = slices.Clone(o.payload.Statuses)
	rest := w.restaurantIndex(p.Restaurant.ID)
	if kind == KindRestaurantChange && len(w.Restaurants) < 2 {
		kind = KindItemsChange
	}
	switch kind {
	case KindUserChange:
		user := p.User.ID
		for range 20 {
			if user = w.Users[w.pickUser()].ID; user != p.User.ID {
				break
			}
		}
		if user == p.User.ID {
			user = w.unknownUsers[w.rnd.IntN(len(w.unknownUsers))]
		}
		p.User.ID = user
	case KindRestaurantChange:
		other := w.rnd.IntN(len(w.Restaurants) - 1)
		if other >= rest {
			other++
		}
		p.Restaurant.ID = w.Restaurants[other].ID
		p.OrderItems, _ = w.pickItems(w.Restaurants[other], -1)
	case KindItemsChange:
		old := itemIDs(o.payload.OrderItems)
		for range 20 {
			p.OrderItems, _ = w.pickItems(w.Restaurants[rest], -1)
			if !slices.Equal(itemIDs(p.OrderItems), old) {
				break
			}
		}
	default:
		panic(fmt.Sprintf("simulator: %q is not an owner change", kind))
	}
	p.reprice()
	n.updateTS = t
	p.UpdateTS = t.Format(tsLayout)
	return &n
}

// restaurantIndex is the index of restaurant id in w.Restaurants.
func (w *World) restaurantIndex(id string) int {
	i := slices.IndexFunc(w.Restaurants, func(r refdata.Restaurant) bool { return r.ID == id })
	if i < 0 {
		panic(fmt.Sprintf("simulator: restaurant %s is not in the world", id))
	}
	return i
}

// itemIDs lists the item ids, sorted.
func itemIDs(items []wireItem) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	slices.Sort(ids)
	return ids
}

// flipped is the next version of o at t (> o.updateTS): CLOSED becomes
// CANCELLED and back.
func (o *orderState) flipped(t time.Time) *orderState {
	n := *o
	n.updateTS = t
	n.payload.FinalStatus = StatusCancelled
	if o.payload.FinalStatus == StatusCancelled {
		n.payload.FinalStatus = StatusClosed
	}
	n.payload.Statuses = append([]statusAt{{n.payload.FinalStatus, t.Format(tsLayout)}}, o.payload.Statuses...)
	n.payload.UpdateTS = t.Format(tsLayout)
	return &n
}

// encode renders o as sent at sent.
func (o *orderState) encode(sent time.Time) []byte {
	b, err := json.Marshal(wireOrder{ObjectID: o.id, ObjectType: "order", SentDttm: sent.Format(tsLayout), Payload: o.payload})
	if err != nil {
		panic(fmt.Sprintf("simulator: encode order: %v", err))
	}
	return b
}

// escapeNonASCII rewrites every non-ASCII rune of valid UTF-8 JSON as \uXXXX
// (non-ASCII bytes only occur inside strings, so the JSON keeps its meaning).
func escapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	for _, r := range string(b) {
		switch {
		case r < 0x80:
			out.WriteByte(byte(r))
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.Bytes()
}

// pickWeighted returns an index of weights, drawn proportionally.
func pickWeighted(w *World, weights []int) int {
	total := 0
	for _, x := range weights {
		total += x
	}
	x := w.rnd.IntN(total)
	for i, wt := range weights {
		if x < wt {
			return i
		}
		x -= wt
	}
	return len(weights) - 1
}
