package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/refdata"
)

// badMessage makes one message the pipeline must reject, with object_id id
// (never used by a valid message) and completion time t.
func (w *World) badMessage(kind Kind, id int64, t time.Time) Message {
	sent := w.after(t, 0, 30*time.Second)
	m := Message{Timestamp: sent, Kind: kind, ObjectID: id}
	u := w.pickUser()
	r := w.Restaurants[w.rnd.IntN(len(w.Restaurants))]
	switch kind {
	case KindUnknownRestaurant:
		m.WantReason = ReasonUnknownRestaurant
		m.Value = w.newOrder(id, t, w.Users[u].ID, w.missing, -1).encode(sent)
	case KindNotInMenu:
		m.WantReason = ReasonProductNotInMenu
		m.Value = w.notInMenu(w.newOrder(id, t, w.Users[u].ID, r, -1), r).encode(sent)
	case KindMalformedJSON:
		m.WantReason, m.ObjectID = ReasonMalformedJSON, 0
		m.Value = w.malformed(w.newOrder(id, t, w.Users[u].ID, r, -1).encode(sent))
	case KindInvalidOrder:
		m.WantReason = ReasonInvalidOrder
		m.Value = w.invalid(w.newOrder(id, t, w.Users[u].ID, r, -1).encode(sent))
	case KindIgnoredType:
		m.WantReason = ReasonIgnoredObjectType
		m.Value = w.payment(id, t, sent)
	default:
		panic(fmt.Sprintf("simulator: %q is not a bad kind", kind))
	}
	return m
}

// notInMenu replaces one item of o with a dish that r does not serve: either
// another restaurant's dish or an id no menu has.
func (w *World) notInMenu(o *orderState, r refdata.Restaurant) *orderState {
	var foreign wireItem
	others := make([]refdata.Restaurant, 0, len(w.Restaurants))
	for _, x := range w.Restaurants {
		if x.ID != r.ID {
			others = append(others, x)
		}
	}
	if len(others) > 0 && w.rnd.IntN(2) == 0 {
		x := others[w.rnd.IntN(len(others))]
		d := x.Menu[w.rnd.IntN(len(x.Menu))]
		foreign = wireItem{ID: d.ID, Name: d.Name, Price: d.Price}
	} else {
		c := catalog[w.rnd.IntN(len(catalog))]
		d := c.dishes[w.rnd.IntN(len(c.dishes))]
		foreign = wireItem{ID: w.hexID(), Name: d.name, Price: float64(d.price)}
	}
	foreign.Quantity = 1
	p := &o.payload
	p.OrderItems = append([]wireItem(nil), p.OrderItems...)
	k := w.rnd.IntN(len(p.OrderItems))
	old := p.OrderItems[k]
	p.OrderItems[k] = foreign
	p.Cost += foreign.Price - old.Price*float64(old.Quantity)
	p.Payment = p.Cost - p.BonusPayment
	if p.Payment < 0 {
		p.BonusPayment, p.Payment = 0, p.Cost
	}
	return o
}

var garbage = []string{
	"not json at all",
	"<html><body>502 Bad Gateway</body></html>",
	"{{{{",
	`{"object_id": 12, "object_type": "order", "payload": `,
	"\x00\x01\x02\x03",
	`[1, 2, 3`,
}

// malformed spoils a valid order: truncated bytes, plain garbage, or invalid
// UTF-8 inside an otherwise well-formed document.
func (w *World) malformed(valid []byte) []byte {
	switch w.rnd.IntN(3) {
	case 0:
		return valid[:len(valid)/4+w.rnd.IntN(len(valid)/2)]
	case 1:
		return []byte(garbage[w.rnd.IntN(len(garbage))])
	default:
		at := bytes.Index(valid, []byte(`"name":"`)) + len(`"name":"`)
		return append(append(append([]byte(nil), valid[:at]...), 0xff, 0xfe), valid[at:]...)
	}
}

// invalid breaks one required field of a valid order (CONTRACT §2).
func (w *World) invalid(valid []byte) []byte {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(valid))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		panic(fmt.Sprintf("simulator: decode own order: %v", err))
	}
	p := doc["payload"].(map[string]any)
	items := p["order_items"].([]any)
	first := items[0].(map[string]any)
	switch w.rnd.IntN(7) {
	case 0:
		p["user"] = map[string]any{}
	case 1:
		first["quantity"] = 0
	case 2:
		p["cost"] = -1 * mustFloat(p["cost"])
	case 3:
		p["order_items"] = []any{}
	case 4:
		p["cost"] = p["cost"].(json.Number).String()
	case 5:
		delete(p, "update_ts")
	default:
		first["quantity"] = 2.5
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("simulator: encode invalid order: %v", err))
	}
	return b
}

func mustFloat(v any) float64 {
	f, err := v.(json.Number).Float64()
	if err != nil {
		panic(err)
	}
	return f
}

// payment is an event of another object type, which the pipeline ignores.
func (w *World) payment(id int64, t, sent time.Time) []byte {
	type payload struct {
		OrderID  int64   `json:"order_id"`
		Amount   float64 `json:"amount"`
		Method   string  `json:"method"`
		UpdateTS string  `json:"update_ts"`
	}
	b, err := json.Marshal(struct {
		ObjectID   int64   `json:"object_id"`
		ObjectType string  `json:"object_type"`
		SentDttm   string  `json:"sent_dttm"`
		Payload    payload `json:"payload"`
	}{id, "payment", sent.Format(tsLayout), payload{id - 1, float64(100 + 10*w.rnd.IntN(200)), "card", t.Format(tsLayout)}})
	if err != nil {
		panic(err)
	}
	return b
}
