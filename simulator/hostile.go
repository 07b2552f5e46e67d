package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// HostileKinds are the kinds of hostile records Hostile makes, in the order
// it deals them out.
var HostileKinds = []Kind{
	KindTombstone, KindEmptyValue, KindUserChange, KindCaseVariantKey, KindDuplicateKey,
	KindRestaurantChange, KindNULChar, KindInvalidUTF8, KindItemsChange, KindDeepNesting,
	KindHugeNumber, KindStaleResend, KindWrongType, KindBadStatus, KindOversize,
}

// HostileReason is the reason the pipeline must store a record of a hostile
// kind with ("" for the kinds that load).
var HostileReason = map[Kind]string{
	KindTombstone:        ReasonEmptyRecord,
	KindEmptyValue:       ReasonEmptyRecord,
	KindOversize:         ReasonOutputTooLarge,
	KindCaseVariantKey:   ReasonInvalidOrder,
	KindDuplicateKey:     ReasonInvalidOrder,
	KindNULChar:          ReasonInvalidOrder,
	KindInvalidUTF8:      ReasonMalformedJSON,
	KindDeepNesting:      ReasonInvalidOrder,
	KindHugeNumber:       ReasonInvalidOrder,
	KindWrongType:        ReasonInvalidOrder,
	KindBadStatus:        ReasonInvalidOrder,
	KindUserChange:       "",
	KindRestaurantChange: "",
	KindItemsChange:      "",
	KindStaleResend:      "",
}

const (
	// MaxOversize caps the KindOversize records of one Hostile call: each
	// is close to 1 MB.
	MaxOversize = 3
	// OversizeInputMax is what an oversize record's value stays below, so
	// that the input topic and its producer take it.
	OversizeInputMax = 1_000_000
	// OversizeOutputMin is what an oversize order's enriched message (CONTRACT §5)
	// exceeds: Kafka's default max.message.bytes, so the output topic
	// refuses it.
	OversizeOutputMin = 1_048_588
	// oversizeInputTarget is the value size oversize aims at, leaving room
	// under OversizeInputMax and the producer's batch limit (1,000,012).
	oversizeInputTarget = 960_000
	// DeepNestingLevels is how deep a KindDeepNesting extra field nests.
	DeepNestingLevels = 60
)

// Hostile returns, in arrival order with increasing Timestamps just before
// End, valid valid orders (KindOrder, one message each, distinct new
// object_ids) mixed with at least hostile hostile records, the kinds of
// HostileKinds dealt out in turn (at most MaxOversize KindOversize; without
// valid orders, none of the version kinds). Every message says what must
// become of it: WantReason "" (loads) or the CONTRACT §9 reason (HostileReason),
// so Expect handles the mix.
//
//   - KindTombstone: Tombstone set, nil Value; KindEmptyValue: a zero-length
//     non-nil Value.
//   - KindOversize: a valid CLOSED order of a known user and restaurant with
//     ~10,000 items, all on the menu (ids repeat), whose value is under
//     OversizeInputMax bytes and whose enriched message is over
//     OversizeOutputMin.
//   - KindCaseVariantKey, KindDuplicateKey, KindNULChar, KindDeepNesting,
//     KindHugeNumber, KindWrongType, KindBadStatus: invalid_order;
//     KindInvalidUTF8: malformed_json. Half of those whose object_id is still
//     readable spoil a newer version (greater update_ts) of one of the valid
//     orders, so loading one would change that order; the others carry a new
//     object_id.
//   - KindUserChange, KindRestaurantChange, KindItemsChange: a newer version
//     of a valid order with another user, restaurant and items, or items.
//     Versions chain (an order may change several times); every other change
//     arrives before the version it replaces, the others after it, anywhere
//     in the mix (so in other batches).
//   - KindStaleResend: an older version of a valid order (one that has
//     changed when possible) re-sent after every version made so far.
//
// No two versions of an order share an update_ts. The valid orders were
// completed 12 to 48 hours before End; their last versions join the World's
// orders (Live may change their status later). Deterministic for the World's
// seed and state.
func (w *World) Hostile(valid, hostile int) []Message {
	type placed struct {
		key float64
		m   Message
	}
	var out []placed
	from, to := w.end.Add(-48*time.Hour), w.end.Add(-12*time.Hour)

	chains := make([]*chain, valid)
	for i := range chains {
		id := w.nextID
		w.nextID++
		u := w.pickUser()
		r, d := w.pickPlace(u)
		o := w.newOrder(id, w.orderTime(from, to), w.Users[u].ID, w.Restaurants[r], d)
		c := &chain{}
		m := c.add(o, w.rnd.Float64(), w.after(o.updateTS, 0, 30*time.Second))
		m.Kind = KindOrder
		chains[i] = c
		out = append(out, placed{c.keys[0], m})
	}

	kinds := HostileKinds
	if valid == 0 {
		kinds = slices.DeleteFunc(slices.Clone(kinds), func(k Kind) bool {
			return k == KindUserChange || k == KindRestaurantChange || k == KindItemsChange || k == KindStaleResend
		})
	}
	oversize, changes := 0, 0
	for n, i := 0, 0; n < hostile; i++ {
		kind := kinds[i%len(kinds)]
		if kind == KindOversize {
			if oversize >= MaxOversize {
				continue
			}
			oversize++
		}
		n++
		switch kind {
		case KindUserChange, KindRestaurantChange, KindItemsChange:
			c := chains[w.rnd.IntN(len(chains))]
			cur := c.last()
			v := w.changed(cur, kind, w.after(cur.updateTS, time.Minute, 3*time.Hour))
			prev := c.keys[len(c.keys)-1]
			key := prev + (1-prev)*w.rnd.Float64()
			if changes++; changes%2 == 1 {
				key = prev * w.rnd.Float64()
			}
			m := c.add(v, key, w.after(v.updateTS, 0, 30*time.Second))
			m.Kind = kind
			out = append(out, placed{key, m})
		case KindStaleResend:
			c := chains[w.rnd.IntN(len(chains))]
			for range 20 {
				if len(c.versions) > 1 {
					break
				}
				c = chains[w.rnd.IntN(len(chains))]
			}
			k := max(0, len(c.versions)-1)
			if k > 0 {
				k = w.rnd.IntN(k) // an older version
			}
			last := slices.Max(c.keys)
			key := last + (1-last)*w.rnd.Float64()
			out = append(out, placed{key, Message{Value: c.values[k], Kind: KindStaleResend, ObjectID: c.versions[k].id}})
		default:
			m := w.hostileRecord(kind, chains, from, to)
			m.Kind, m.WantReason = kind, HostileReason[kind]
			out = append(out, placed{w.rnd.Float64(), m})
		}
	}

	slices.SortStableFunc(out, func(a, b placed) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	msgs := make([]Message, len(out))
	base := w.end.Add(-time.Duration(len(out)+1) * 10 * time.Millisecond)
	for i, p := range out {
		msgs[i] = p.m
		msgs[i].Timestamp = base.Add(time.Duration(i) * 10 * time.Millisecond)
	}
	for _, c := range chains {
		w.orders = append(w.orders, c.last())
	}
	return msgs
}

// chain is the versions of one valid order Hostile made, with the values sent
// and the sort keys (arrival) of the messages that carry them.
type chain struct {
	versions []*orderState
	values   [][]byte
	keys     []float64
}

func (c *chain) last() *orderState { return c.versions[len(c.versions)-1] }

// add appends version o, sent at sent, arriving at key, and returns its message.
func (c *chain) add(o *orderState, key float64, sent time.Time) Message {
	v := o.encode(sent)
	c.versions, c.values, c.keys = append(c.versions, o), append(c.values, v), append(c.keys, key)
	return Message{Value: v, ObjectID: o.id}
}

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

// enrichedJSON is the enriched message (CONTRACT §5) of a valid order event from
// the World's reference data, encoded as compact JSON. It panics on an event
// it cannot enrich.
func (w *World) enrichedJSON(value []byte) []byte {
	var o struct {
		ObjectID int64       `json:"object_id"`
		Payload  wirePayload `json:"payload"`
	}
	if err := json.Unmarshal(value, &o); err != nil {
		panic(fmt.Sprintf("simulator: enrich: %v", err))
	}
	type product struct {
		ID       string  `json:"id"`
		Price    float64 `json:"price"`
		Quantity int     `json:"quantity"`
		Name     string  `json:"name"`
		Category string  `json:"category"`
	}
	type named struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	type user struct {
		ID    string  `json:"id"`
		Name  *string `json:"name"`
		Login *string `json:"login"`
	}
	type payload struct {
		ID         int64     `json:"id"`
		Date       string    `json:"date"`
		Cost       float64   `json:"cost"`
		Payment    float64   `json:"payment"`
		Status     string    `json:"status"`
		Restaurant named     `json:"restaurant"`
		User       user      `json:"user"`
		Products   []product `json:"products"`
	}
	p := o.Payload
	r := w.Restaurants[w.restaurantIndex(p.Restaurant.ID)]
	e := payload{ID: o.ObjectID, Date: p.Date, Cost: p.Cost, Payment: p.Payment, Status: p.FinalStatus,
		Restaurant: named{r.ID, r.Name}, User: user{ID: p.User.ID}}
	for i := range w.Users {
		if u := &w.Users[i]; u.ID == p.User.ID {
			e.User.Name, e.User.Login = &u.Name, &u.Login
		}
	}
	for _, it := range p.OrderItems {
		mi, ok := r.Item(it.ID)
		if !ok {
			panic(fmt.Sprintf("simulator: enrich: item %s is not on the menu", it.ID))
		}
		e.Products = append(e.Products, product{it.ID, it.Price, it.Quantity, mi.Name, mi.Category})
	}
	b, err := json.Marshal(struct {
		ObjectID   int64   `json:"object_id"`
		ObjectType string  `json:"object_type"`
		Payload    payload `json:"payload"`
	}{o.ObjectID, "order", e})
	if err != nil {
		panic(err)
	}
	return b
}

// replaceOnce replaces the first old in v by new; old must occur.
func replaceOnce(v []byte, old, new string) []byte {
	if !bytes.Contains(v, []byte(old)) {
		panic(fmt.Sprintf("simulator: %q not found in %s", old, clipBytes(v)))
	}
	return bytes.Replace(v, []byte(old), []byte(new), 1)
}

// replaceRe replaces the first match of pattern in v (with $1 expanded); it
// must match.
func replaceRe(v []byte, pattern, repl string) []byte {
	re := regexp.MustCompile(pattern)
	loc := re.FindSubmatchIndex(v)
	if loc == nil {
		panic(fmt.Sprintf("simulator: %s does not match %s", pattern, clipBytes(v)))
	}
	out := append([]byte(nil), v[:loc[0]]...)
	out = re.Expand(out, []byte(repl), v, loc)
	return append(out, v[loc[1]:]...)
}

var nameRe = regexp.MustCompile(`"name":"([^"\\]*)"`)

// spoilName inserts bad into the name of item k of v: at its start (where
// 0), after its first character (1) or at its end (2).
func spoilName(v []byte, k, where int, bad []byte) []byte {
	all := nameRe.FindAllSubmatchIndex(v, -1)
	if k >= len(all) {
		panic(fmt.Sprintf("simulator: item %d has no name in %s", k, clipBytes(v)))
	}
	from, to := all[k][2], all[k][3]
	at := from
	switch where {
	case 1:
		_, size := utf8.DecodeRune(v[from:to])
		at = from + size
	case 2:
		at = to
	}
	return slices.Concat(v[:at], bad, v[at:])
}

func clipBytes(v []byte) string {
	if len(v) > 200 {
		return string(v[:200]) + "…"
	}
	return string(v)
}
