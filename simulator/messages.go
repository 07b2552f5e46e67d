package simulator

import (
	"math"
	"slices"
	"time"
)

// Kind says what a generated message is meant to exercise.
type Kind string

// Kinds of generated messages.
const (
	KindOrder             Kind = "order"               // a new order (or its first appearance)
	KindResend            Kind = "resend"              // identical bytes again, later
	KindStatusChange      Kind = "status_change"       // same object_id, newer update_ts, other final_status
	KindOutOfOrder        Kind = "out_of_order"        // an older version sent after a newer one
	KindUnknownUser       Kind = "unknown_user"        // user not in Redis: still loads and counts
	KindUnknownRestaurant Kind = "unknown_restaurant"  // restaurant not in Redis: rejected
	KindNotInMenu         Kind = "product_not_in_menu" // an item absent from the menu: rejected
	KindMalformedJSON     Kind = "malformed_json"      // truncated, garbage or invalid UTF-8
	KindInvalidOrder      Kind = "invalid_order"       // a required field missing or of the wrong type
	KindIgnoredType       Kind = "ignored_object_type" // object_type "payment"
	KindEscaped           Kind = "escaped"             // ASCII-only JSON, names \uXXXX-escaped; loads normally

	// Owner changes (CONTRACT §2): a newer version of an order (greater
	// update_ts) names another user, restaurant or item list. They load, and
	// the counters follow the current version.
	KindUserChange       Kind = "user_change"       // same order, another user
	KindRestaurantChange Kind = "restaurant_change" // same order, another restaurant and its items
	KindItemsChange      Kind = "items_change"      // same order and restaurant, other items

	// Hostile records (see Hostile).
	KindStaleResend    Kind = "stale_resend"     // an older version re-sent after a newer one: loads, changes nothing
	KindTombstone      Kind = "tombstone"        // null value: empty_record
	KindEmptyValue     Kind = "empty_value"      // zero-length value: empty_record
	KindOversize       Kind = "oversize_output"  // a valid order whose enriched message exceeds 1 MiB: output_too_large
	KindCaseVariantKey Kind = "case_variant_key" // OBJECT_ID for object_id, Final_Status beside final_status: invalid_order
	KindDuplicateKey   Kind = "duplicate_key"    // one object holds a key twice: invalid_order
	KindNULChar        Kind = "nul_char"         // \u0000 in an item name: invalid_order
	KindInvalidUTF8    Kind = "invalid_utf8"     // raw invalid UTF-8 bytes in a string: malformed_json
	KindDeepNesting    Kind = "deep_nesting"     // an extra field nested 60 levels deep: invalid_order
	KindHugeNumber     Kind = "huge_number"      // 1e400 for a number: invalid_order
	KindWrongType      Kind = "wrong_type"       // object_id "abc" and the like: invalid_order
	KindBadStatus      Kind = "bad_status"       // "closed", "LOST": invalid_order
)

// Reasons a rejected message must be stored with (CONTRACT §9).
const (
	ReasonMalformedJSON     = "malformed_json"
	ReasonInvalidOrder      = "invalid_order"
	ReasonIgnoredObjectType = "ignored_object_type"
	ReasonUnknownRestaurant = "unknown_restaurant"
	ReasonProductNotInMenu  = "product_not_in_menu"
	ReasonEmptyRecord       = "empty_record"
	ReasonOutputTooLarge    = "output_too_large"
	ReasonPoison            = "poison"
)

// Message is one Kafka record to produce.
type Message struct {
	// Value is the record's value. Produce sends a null value (a Kafka
	// tombstone) when Tombstone is set, and otherwise a non-null one: a nil
	// Value then goes out as an empty (zero-length) value.
	Value      []byte
	Tombstone  bool
	Timestamp  time.Time // the Kafka record timestamp to use
	Kind       Kind
	ObjectID   int64  // 0 when the pipeline cannot read one (malformed JSON, tombstone, object_id misspelt or mistyped)
	WantReason string // "" for loadable messages, else the CONTRACT §9 reason the pipeline must store
}

// Shares of History(n), relative to n. The treatments apply to distinct
// orders; the bad messages come on top, each with its own object_id.
var (
	treatmentShares = []struct {
		kind  Kind
		share float64
	}{
		{KindResend, 0.03}, {KindStatusChange, 0.04}, {KindOutOfOrder, 0.01},
		{KindUnknownUser, 0.01}, {KindEscaped, 0.02},
		{KindUserChange, 0.01}, {KindRestaurantChange, 0.005}, {KindItemsChange, 0.005},
	}
	badShares = []struct {
		kind  Kind
		share float64
	}{
		{KindUnknownRestaurant, 0.003}, {KindNotInMenu, 0.003}, {KindMalformedJSON, 0.002},
		{KindInvalidOrder, 0.002}, {KindIgnoredType, 0.001},
	}
)

// followUpRoom is how long before End an order must be completed for its
// later versions and re-sends to still fall before End.
const followUpRoom = 8 * time.Hour

// History returns about n distinct orders completed over the week before End,
// ordered by Timestamp, plus extra versions and bad messages on top: ~3%
// re-sends, ~4% status changes, ~1% out-of-order versions, ~1% unknown users,
// ~2% escaped names, ~1% later versions with another user, ~0.5% with another
// restaurant and its items, ~0.5% with other items of the same restaurant,
// and ~0.9% rejected messages. Object ids increase with time. The mix depends
// only on the World's options. Call it once, before Live.
func (w *World) History(n int) []Message {
	start := w.end.Add(-7 * 24 * time.Hour)
	type event struct {
		t    time.Time
		kind Kind // KindOrder, or the bad kind
	}
	var events []event
	for range n {
		events = append(events, event{w.orderTime(start, w.end.Add(-time.Minute)), KindOrder})
	}
	for _, b := range badShares {
		for range count(n, b.share) {
			events = append(events, event{w.orderTime(start, w.end.Add(-time.Minute)), b.kind})
		}
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.t.Compare(b.t) })

	// Treatments go to orders with room for follow-ups before End.
	var eligible []int
	for i, e := range events {
		if e.kind == KindOrder && e.t.Before(w.end.Add(-followUpRoom)) {
			eligible = append(eligible, i)
		}
	}
	w.rnd.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
	for _, tr := range treatmentShares {
		for range count(n, tr.share) {
			if len(eligible) == 0 {
				break
			}
			events[eligible[0]].kind = tr.kind
			eligible = eligible[1:]
		}
	}

	var msgs []Message
	for _, e := range events {
		id := w.nextID
		w.nextID++
		if e.kind != KindOrder && !isTreatment(e.kind) {
			msgs = append(msgs, w.badMessage(e.kind, id, e.t))
			continue
		}
		msgs = append(msgs, w.historyOrder(e.kind, id, e.t)...)
	}
	slices.SortStableFunc(msgs, func(a, b Message) int { return a.Timestamp.Compare(b.Timestamp) })
	return msgs
}

// historyOrder makes the messages of one valid order completed at t.
func (w *World) historyOrder(kind Kind, id int64, t time.Time) []Message {
	var o *orderState
	if kind == KindUnknownUser {
		user := w.unknownUsers[w.rnd.IntN(len(w.unknownUsers))]
		o = w.newOrder(id, t, user, w.Restaurants[w.rnd.IntN(len(w.Restaurants))], -1)
	} else {
		u := w.pickUser()
		r, d := w.pickPlace(u)
		o = w.newOrder(id, t, w.Users[u].ID, w.Restaurants[r], d)
	}
	sent := w.after(t, 0, 30*time.Second)
	first := Message{Value: o.encode(sent), Timestamp: sent, Kind: KindOrder, ObjectID: id}
	msgs := []Message{first}
	switch kind {
	case KindUnknownUser:
		msgs[0].Kind = KindUnknownUser
	case KindEscaped:
		msgs[0].Kind, msgs[0].Value = KindEscaped, escapeNonASCII(first.Value)
	case KindResend:
		again := first
		again.Kind, again.Timestamp = KindResend, w.after(sent, time.Minute, 90*time.Minute)
		msgs = append(msgs, again)
	case KindStatusChange, KindOutOfOrder:
		v2 := o.flipped(w.after(t, 5*time.Minute, 6*time.Hour))
		sent2 := w.after(v2.updateTS, 0, 30*time.Second)
		second := Message{Value: v2.encode(sent2), Timestamp: sent2, Kind: KindStatusChange, ObjectID: id}
		if kind == KindStatusChange {
			msgs = append(msgs, second)
		} else {
			// Version 2 arrives first, version 1 (older update_ts) after it.
			second.Kind = KindOrder
			first.Kind, first.Timestamp = KindOutOfOrder, w.after(sent2, time.Minute, 90*time.Minute)
			msgs = []Message{second, first}
		}
		o = v2
	case KindUserChange, KindRestaurantChange, KindItemsChange:
		// Version 1 (KindOrder), then version 2 with another owner.
		v2 := w.changed(o, kind, w.after(t, 5*time.Minute, 6*time.Hour))
		sent2 := w.after(v2.updateTS, 0, 30*time.Second)
		msgs = append(msgs, Message{Value: v2.encode(sent2), Timestamp: sent2, Kind: kind, ObjectID: id})
		o = v2
	}
	w.orders = append(w.orders, o)
	return msgs
}

// Live returns the messages of one live tick at now: one new order
// completed at now and, about one time in ten, a status change of an earlier
// order (update_ts after every earlier version of it). Live never changes an
// order's owners (user, restaurant, items): a restarted simulator knows the
// history it sent, not the live versions.
func (w *World) Live(now time.Time) []Message {
	now = now.UTC().Truncate(time.Second)
	id := w.nextID
	w.nextID++
	u := w.pickUser()
	r, d := w.pickPlace(u)
	o := w.newOrder(id, now, w.Users[u].ID, w.Restaurants[r], d)
	msgs := []Message{{Value: o.encode(now), Timestamp: now, Kind: KindOrder, ObjectID: id}}
	if len(w.orders) > 0 && w.rnd.IntN(10) == 0 {
		k := w.rnd.IntN(len(w.orders))
		prev := w.orders[k]
		t := now
		if !t.After(prev.updateTS) {
			t = prev.updateTS.Add(time.Second)
		}
		v2 := prev.flipped(t)
		w.orders[k] = v2
		msgs = append(msgs, Message{Value: v2.encode(t), Timestamp: t, Kind: KindStatusChange, ObjectID: prev.id})
	}
	w.orders = append(w.orders, o)
	return msgs
}

// after returns t plus a whole number of seconds in [lo, hi].
func (w *World) after(t time.Time, lo, hi time.Duration) time.Time {
	return t.Add(lo + time.Duration(w.rnd.Int64N(int64((hi-lo)/time.Second)+1))*time.Second)
}

// count is n*share, rounded.
func count(n int, share float64) int { return int(math.Round(float64(n) * share)) }

func isTreatment(k Kind) bool {
	for _, tr := range treatmentShares {
		if tr.kind == k {
			return true
		}
	}
	return false
}
