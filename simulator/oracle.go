package simulator

// The oracle is deliberately independent of the pipeline: it imports only the
// standard library and refdata, decodes messages itself and counts from the
// World's menus.

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/refdata"
)

// Expected is what the warehouse must hold after loading msgs.
type Expected struct {
	// [source user id, product id] -> number of distinct orders whose
	// CURRENT version is CLOSED, names that user and contains the product.
	// Earlier versions count for nothing: an order that moved from user A to
	// user B (or to other items) counts for B's items only.
	UserProducts map[[2]string]int
	// [source user id, category name] -> distinct orders whose current
	// version is CLOSED, names that user and holds at least one product of
	// the category.
	UserCategories map[[2]string]int
	// ProductNames maps every product of a loadable message (any version)
	// to its menu name.
	ProductNames map[string]string
	Orders       int // distinct loadable object_ids
	// Users holds every user some loadable version names, current or not:
	// the vault keeps every user it saw, and a batch that moves an order
	// away from a user touches that user too. A version superseded by a
	// later one in the same batch is never loaded (CONTRACT §6), so a user
	// only such versions name may be missing from the vault: Owners are
	// the users the vault always holds.
	Users map[string]bool
	// Owners holds every user the current version of some order names.
	Owners   map[string]bool
	Rejected map[int]string // index in msgs -> WantReason
}

// oracleOrder is the part of an order event the oracle reads.
type oracleOrder struct {
	ObjectID int64 `json:"object_id"`
	Payload  struct {
		Restaurant struct {
			ID string `json:"id"`
		} `json:"restaurant"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		OrderItems []struct {
			ID string `json:"id"`
		} `json:"order_items"`
		FinalStatus string `json:"final_status"`
		UpdateTS    string `json:"update_ts"`
	} `json:"payload"`
}

// Expect computes the expected warehouse content for msgs, loaded in order.
// A message is loadable when its WantReason is empty; the current version of
// an order is its loadable version with the greatest update_ts, ties going to
// the later message, whatever the order of arrival. The current version alone
// decides the order's user, restaurant, items and status (CONTRACT §2); the
// counters count it once, for its user. Names and categories come from the
// World's menus.
// Counters of 0 are omitted. Expect panics on a loadable message it cannot
// decode or whose restaurant or products are not in the World: that is a
// generator bug, not a pipeline one.
func (w *World) Expect(msgs []Message) Expected {
	e := Expected{
		UserProducts:   map[[2]string]int{},
		UserCategories: map[[2]string]int{},
		ProductNames:   map[string]string{},
		Users:          map[string]bool{},
		Owners:         map[string]bool{},
		Rejected:       map[int]string{},
	}
	menus := map[string]refdata.Restaurant{}
	for _, r := range w.Restaurants {
		menus[r.ID] = r
	}
	type version struct {
		ts    time.Time
		order oracleOrder
	}
	current := map[int64]version{}
	for i, m := range msgs {
		if m.WantReason != "" {
			e.Rejected[i] = m.WantReason
			continue
		}
		var o oracleOrder
		if err := json.Unmarshal(m.Value, &o); err != nil {
			panic(fmt.Sprintf("simulator oracle: message %d is marked loadable but does not decode: %v", i, err))
		}
		ts, err := parseTS(o.Payload.UpdateTS)
		if err != nil {
			panic(fmt.Sprintf("simulator oracle: message %d: %v", i, err))
		}
		r, ok := menus[o.Payload.Restaurant.ID]
		if !ok {
			panic(fmt.Sprintf("simulator oracle: message %d: restaurant %s is not in the world", i, o.Payload.Restaurant.ID))
		}
		for _, it := range o.Payload.OrderItems {
			mi, ok := r.Item(it.ID)
			if !ok {
				panic(fmt.Sprintf("simulator oracle: message %d: product %s is not on the menu", i, it.ID))
			}
			e.ProductNames[it.ID] = mi.Name
		}
		e.Users[o.Payload.User.ID] = true
		if prev, ok := current[o.ObjectID]; !ok || !ts.Before(prev.ts) {
			current[o.ObjectID] = version{ts, o}
		}
	}
	e.Orders = len(current)
	for _, v := range current {
		p := v.order.Payload
		e.Owners[p.User.ID] = true
		if p.FinalStatus != StatusClosed {
			continue
		}
		r := menus[p.Restaurant.ID]
		products, cats := map[string]bool{}, map[string]bool{}
		for _, it := range p.OrderItems {
			mi, _ := r.Item(it.ID)
			products[it.ID] = true
			cats[mi.Category] = true
		}
		for id := range products {
			e.UserProducts[[2]string{p.User.ID, id}]++
		}
		for c := range cats {
			e.UserCategories[[2]string{p.User.ID, c}]++
		}
	}
	return e
}

// parseTS reads a CONTRACT §2 timestamp: "YYYY-MM-DD HH:MM:SS" or RFC 3339.
func parseTS(s string) (time.Time, error) {
	if t, err := time.Parse(tsLayout, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}
