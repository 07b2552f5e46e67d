package simulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// hostileRecord makes one rejected hostile record of kind (Kind and
// WantReason left to the caller).
func (w *World) hostileRecord(kind Kind, chains []*chain, from, to time.Time) Message {
	switch kind {
	case KindTombstone:
		return Message{Tombstone: true}
	case KindEmptyValue:
		return Message{Value: []byte{}}
	case KindOversize:
		return w.oversize(from, to)
	}

	// The version to spoil: a newer version of a valid order, or a new order.
	var o *orderState
	if len(chains) > 0 && w.rnd.IntN(2) == 0 {
		cur := chains[w.rnd.IntN(len(chains))].last()
		o = cur.flipped(w.after(cur.updateTS, time.Minute, time.Hour))
	} else {
		id := w.nextID
		w.nextID++
		u := w.pickUser()
		o = w.newOrder(id, w.orderTime(from, to), w.Users[u].ID, w.Restaurants[w.rnd.IntN(len(w.Restaurants))], -1)
	}
	v := o.encode(w.after(o.updateTS, 0, 30*time.Second))
	m := Message{ObjectID: o.id}
	other := StatusCancelled
	if o.payload.FinalStatus == StatusCancelled {
		other = StatusClosed
	}
	final := fmt.Sprintf(`"final_status":%q`, o.payload.FinalStatus)
	switch kind {
	case KindCaseVariantKey:
		switch w.rnd.IntN(3) {
		case 0: // OBJECT_ID only
			v, m.ObjectID = replaceOnce(v, `"object_id":`, `"OBJECT_ID":`), 0
		case 1: // Final_Status beside final_status, saying otherwise
			v = replaceOnce(v, final, fmt.Sprintf(`"Final_Status":%q,%s`, other, final))
		default: // User for user
			v = replaceOnce(v, `"user":{`, `"User":{`)
		}
	case KindDuplicateKey:
		switch w.rnd.IntN(4) {
		case 0:
			v = replaceOnce(v, final, fmt.Sprintf(`"final_status":%q,%s`, other, final))
		case 1:
			user := fmt.Sprintf(`"user":{"id":%q}`, o.payload.User.ID)
			v = replaceOnce(v, user, fmt.Sprintf(`"user":{"id":%q},%s`, w.Users[w.pickUser()].ID, user))
		case 2:
			menu := w.Restaurants[w.restaurantIndex(o.payload.Restaurant.ID)].Menu
			first := fmt.Sprintf(`{"id":%q,`, o.payload.OrderItems[0].ID)
			v = replaceOnce(v, first, fmt.Sprintf(`{"id":%q,"id":%q,`, menu[w.rnd.IntN(len(menu))].ID, o.payload.OrderItems[0].ID))
		default:
			v = replaceOnce(v, `"object_type":"order",`, `"object_type":"order","object_type":"order",`)
		}
	case KindNULChar:
		v = spoilName(v, w.rnd.IntN(len(o.payload.OrderItems)), w.rnd.IntN(3), []byte(`\u0000`))
	case KindInvalidUTF8:
		bad := [][]byte{{0xff}, {0xfe, 0xff}, {0xc0, 0xaf}, {0xed, 0xa0, 0x80}, {0xd0}, {0xf8, 0x88, 0x80, 0x80, 0x80}}
		v, m.ObjectID = spoilName(v, w.rnd.IntN(len(o.payload.OrderItems)), w.rnd.IntN(3), bad[w.rnd.IntN(len(bad))]), 0
	case KindDeepNesting:
		open, closing := `{"a":`, `}`
		if w.rnd.IntN(2) == 0 {
			open, closing = `[`, `]`
		}
		extra := `"extra":` + strings.Repeat(open, DeepNestingLevels) + `1` + strings.Repeat(closing, DeepNestingLevels) + `,`
		v = replaceOnce(v, `"payload":{`, `"payload":{`+extra)
	case KindHugeNumber:
		huge := []string{"1e400", "-1e400", "1E+400"}[w.rnd.IntN(3)]
		field := []string{"cost", "payment", "price"}[w.rnd.IntN(3)]
		v = replaceRe(v, `"`+field+`":-?[0-9.eE+-]+`, `"`+field+`":`+huge)
	case KindWrongType:
		switch w.rnd.IntN(5) {
		case 0:
			v, m.ObjectID = replaceRe(v, `"object_id":[0-9]+`, `"object_id":"abc"`), 0
		case 1:
			v, m.ObjectID = replaceRe(v, `"object_id":([0-9]+)`, `"object_id":"$1"`), 0
		case 2:
			v = replaceRe(v, `"cost":([0-9.eE+-]+)`, `"cost":"$1"`)
		case 3:
			v = replaceOnce(v, fmt.Sprintf(`"user":{"id":%q}`, o.payload.User.ID), fmt.Sprintf(`"user":%q`, o.payload.User.ID))
		default:
			v = replaceRe(v, `"quantity":([0-9]+)`, `"quantity":"$1"`)
		}
	case KindBadStatus:
		bad := []string{"closed", "LOST", "Closed", "CLOSED "}[w.rnd.IntN(4)]
		if w.rnd.IntN(3) == 0 {
			v = replaceOnce(v, `"statuses":[{"status":`+fmt.Sprintf("%q", o.payload.Statuses[0].Status),
				`"statuses":[{"status":`+fmt.Sprintf("%q", bad))
		} else {
			v = replaceOnce(v, final, fmt.Sprintf(`"final_status":%q`, bad))
		}
	default:
		panic(fmt.Sprintf("simulator: %q is not a rejected hostile kind", kind))
	}
	m.Value = v
	return m
}

// oversize is a valid CLOSED order with so many items (all on the menu) that
// its value is about oversizeInputTarget bytes and its enriched message is
// over OversizeOutputMin.
func (w *World) oversize(from, to time.Time) Message {
	id := w.nextID
	w.nextID++
	u := w.Users[w.pickUser()]
	r := w.Restaurants[w.rnd.IntN(len(w.Restaurants))]
	t := w.orderTime(from, to)
	o := w.newOrder(id, t, u.ID, r, -1)
	for o.payload.FinalStatus != StatusClosed {
		o = w.newOrder(id, t, u.ID, r, -1)
	}
	sent := w.after(t, 0, 30*time.Second)
	p := &o.payload
	p.OrderItems = []wireItem{}
	size := len(o.encode(sent)) + 64 // room for the longer cost, payment and bonus
	for {
		m := r.Menu[w.rnd.IntN(len(r.Menu))]
		it := wireItem{ID: m.ID, Name: m.Name, Price: m.Price, Quantity: 1 + w.rnd.IntN(5)}
		b, _ := json.Marshal(it)
		if size+len(b)+1 > oversizeInputTarget {
			break
		}
		size += len(b) + 1
		p.OrderItems = append(p.OrderItems, it)
	}
	p.reprice()
	v := o.encode(sent)
	if len(v) >= OversizeInputMax {
		panic(fmt.Sprintf("simulator: oversize order is %d bytes, want < %d", len(v), OversizeInputMax))
	}
	if n := len(w.enrichedJSON(v)); n <= OversizeOutputMin {
		panic(fmt.Sprintf("simulator: oversize order enriches to %d bytes, want > %d", n, OversizeOutputMin))
	}
	return Message{Value: v, ObjectID: id}
}
