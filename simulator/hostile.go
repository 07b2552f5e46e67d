package simulator

import (
	"slices"
	"time"
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
