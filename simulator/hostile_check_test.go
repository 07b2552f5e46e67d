package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/orderflow/orderflow/refdata"
)

// checkHostile checks that a hostile record is what its kind says.
func checkHostile(t *testing.T, w *World, i int, m Message) {
	t.Helper()
	v := m.Value
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("message %d (%s): "+format+"\n%s", append([]any{i, m.Kind}, append(args, clipBytes(v))...)...)
	}
	if m.Kind == KindOrder || m.Kind == KindTombstone || m.Kind == KindEmptyValue || m.Kind == KindInvalidUTF8 {
		switch {
		case m.Kind == KindTombstone && v != nil:
			fail("tombstone with a value")
		case m.Kind == KindEmptyValue && (v == nil || len(v) != 0):
			fail("empty value is %v", v)
		case m.Kind == KindInvalidUTF8 && utf8.Valid(v):
			fail("valid UTF-8")
		}
		return
	}
	if !utf8.Valid(v) || !json.Valid(v) {
		fail("not valid UTF-8 JSON")
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		fail("%v", err)
	}
	payload, _ := doc["payload"].(map[string]any)
	switch m.Kind {
	case KindOversize:
		if len(v) >= OversizeInputMax {
			fail("value is %d bytes", len(v))
		}
		if n := len(w.enrichedJSON(v)); n <= OversizeOutputMin {
			fail("enriched message is %d bytes", n)
		}
		items, _ := payload["order_items"].([]any)
		if len(items) < 5000 || payload["final_status"] != StatusClosed {
			fail("%d items, status %v", len(items), payload["final_status"])
		}
		var o oracleOrder
		if err := json.Unmarshal(v, &o); err != nil {
			fail("%v", err)
		}
		r := w.Restaurants[w.restaurantIndex(o.Payload.Restaurant.ID)]
		for _, it := range o.Payload.OrderItems {
			if _, ok := r.Item(it.ID); !ok {
				fail("item %s is not on the menu", it.ID)
			}
		}
		if !slices.ContainsFunc(w.Users, func(u refdata.User) bool { return u.ID == o.Payload.User.ID }) {
			fail("unknown user")
		}
	case KindCaseVariantKey:
		if !bytes.Contains(v, []byte(`"OBJECT_ID":`)) && !bytes.Contains(v, []byte(`"Final_Status":`)) && !bytes.Contains(v, []byte(`"User":`)) {
			fail("no case-variant key")
		}
		if bytes.Contains(v, []byte(`"OBJECT_ID":`)) && (bytes.Contains(v, []byte(`"object_id":`)) || m.ObjectID != 0) {
			fail("OBJECT_ID beside object_id, or an ObjectID")
		}
	case KindDuplicateKey:
		if !hasDuplicateKey(t, v) {
			fail("no duplicate key")
		}
	case KindNULChar:
		if !bytes.Contains(v, []byte(`\u0000`)) || bytes.IndexByte(v, 0) >= 0 {
			fail("no escaped NUL, or a raw one")
		}
	case KindDeepNesting:
		if d := depth(t, v); d < DeepNestingLevels+2 {
			fail("depth %d", d)
		}
	case KindHugeNumber:
		if !bytes.Contains(v, []byte(`e400`)) && !bytes.Contains(v, []byte(`E+400`)) {
			fail("no huge number")
		}
	case KindWrongType:
		if _, err := checkOrder(w, v); err == nil {
			fail("passes the checks")
		}
	case KindBadStatus:
		final, _ := payload["final_status"].(string)
		first, _ := payload["statuses"].([]any)[0].(map[string]any)["status"].(string)
		allowed := []string{"OPEN", "COOKING", "DELIVERING", "CLOSED", "CANCELLED"}
		if slices.Contains(allowed, final) && slices.Contains(allowed, first) {
			fail("statuses %q, %q are allowed", final, first)
		}
	}
	// An object_id the pipeline can read is the message's.
	if n, ok := doc["object_id"].(json.Number); ok {
		if id, err := n.Int64(); err != nil || id != m.ObjectID {
			fail("object_id %v, Message.ObjectID %d", n, m.ObjectID)
		}
	} else if m.ObjectID != 0 {
		fail("no readable object_id, Message.ObjectID %d", m.ObjectID)
	}
}

// hasDuplicateKey reports whether some object of v holds a key twice.
func hasDuplicateKey(t *testing.T, v []byte) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(v))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expect bool // next string token is a key
	}
	var stack []*frame
	dup := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return dup
		}
		if err != nil {
			t.Fatal(err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, isStr := tok.(string); isStr && top != nil && top.obj && top.expect {
			if top.keys[k] {
				dup = true
			}
			top.keys[k] = true
			top.expect = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].expect = true // a value ended
		}
	}
}

// depth is the deepest nesting of objects and arrays in v.
func depth(t *testing.T, v []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(v))
	d, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			d++
			deepest = max(deepest, d)
		case json.Delim('}'), json.Delim(']'):
			d--
		}
	}
}
