package order

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: any bytes either decode into an event that satisfies every
// rule of CONTRACT §2, or are rejected with a known reason and a UTF-8 detail.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(good[:200]))
	f.Add([]byte(`{"object_type":"payment"}`))
	f.Add([]byte(`{"object_id":1,"object_type":"order","payload":{"order_items":[{}]}}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, rej := Decode(value, recordTS)
		if rej != nil {
			known := false
			for _, r := range Reasons {
				known = known || r == rej.Reason
			}
			if !known || rej.Detail == "" || !utf8.ValidString(rej.Detail) || strings.ContainsRune(rej.Detail, 0) {
				t.Fatalf("bad rejection %+v", rej)
			}
			// The strict scanner's syntax agrees with encoding/json's, but
			// for a raw NUL in a string, which CONTRACT §2 makes invalid_order.
			trimmed := strings.Trim(string(value), " \t\r\n")
			empty := trimmed == "" || trimmed == "null"
			if (rej.Reason == ReasonEmptyRecord) != empty {
				t.Fatalf("empty_record is %v for %q: %+v", empty, value, rej)
			}
			notJSON := !utf8.Valid(value) || !json.Valid(value)
			if !empty && rej.Reason == ReasonMalformedJSON && !notJSON {
				t.Fatalf("valid JSON rejected as malformed: %+v", rej)
			}
			if !empty && rej.Reason != ReasonMalformedJSON && notJSON && !bytes.Contains(value, []byte{0}) {
				t.Fatalf("invalid JSON rejected as %+v", rej)
			}
			return
		}
		if msg := readableByPostgres(value); msg != "" {
			t.Fatalf("accepted a value PostgreSQL cannot read: %s", msg)
		}
		if msg := readableByPostgres(ev.Payload); msg != "" {
			t.Fatalf("accepted a payload PostgreSQL cannot read: %s", msg)
		}
		if msg := unambiguous(value); msg != "" {
			t.Fatalf("accepted an ambiguous value: %s", msg)
		}
		if !slices.Contains(orderStatuses, ev.FinalStatus) {
			t.Fatalf("accepted final_status %q", ev.FinalStatus)
		}
		if ev.ObjectID < 1 || ev.ObjectID > MaxObjectID || ev.UserID == "" || ev.RestaurantID == "" || len(ev.Items) == 0 {
			t.Fatalf("accepted an invalid event %+v", ev)
		}
		for _, s := range []string{ev.UserID, ev.RestaurantID, ev.FinalStatus} {
			if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
				t.Fatalf("accepted a value PostgreSQL text cannot store: %q", s)
			}
		}
		for _, it := range ev.Items {
			if it.Quantity < 1 || it.Price < 0 || it.ID == "" || strings.ContainsRune(it.ID, 0) {
				t.Fatalf("accepted an invalid item %+v", it)
			}
		}
		if !utf8.Valid(ev.Payload) || !json.Valid(ev.Payload) {
			t.Fatalf("payload is not valid UTF-8 JSON")
		}
	})
}

// TestFuzzOracles checks that the oracles FuzzDecode trusts catch what they
// are meant to.
func TestFuzzOracles(t *testing.T) {
	for _, v := range []string{`"\u0000"`, `"a\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`, "\"a\x00\"", "\"\xff\""} {
		if readableByPostgres([]byte(v)) == "" {
			t.Errorf("readableByPostgres passes %q", v)
		}
	}
	for _, v := range []string{`"\\u0000"`, `"\ud83d\ude00"`, `"\\ud800"`, `"\"\\"`} {
		if msg := readableByPostgres([]byte(v)); msg != "" {
			t.Errorf("readableByPostgres refuses %q: %s", v, msg)
		}
	}
	for _, v := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":1}]}}`, `{"a":1,"\u0061":2}`, `[1e400]`, nested(maxDepth + 1)} {
		if unambiguous([]byte(v)) == "" {
			t.Errorf("unambiguous passes %q", v)
		}
	}
	for _, v := range []string{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":1}]}`, nested(maxDepth), `{"a":[],"b":{}}`} {
		if msg := unambiguous([]byte(v)); msg != "" {
			t.Errorf("unambiguous refuses %q: %s", v, msg)
		}
	}
}

// readableByPostgres is the fuzz oracle of "every payload can be read with
// PostgreSQL's JSON operators", written apart from strict.go: valid UTF-8, no
// NUL byte, and no \u escape of U+0000 or of a lone surrogate.
func readableByPostgres(v []byte) string {
	if !utf8.Valid(v) {
		return "not UTF-8"
	}
	if bytes.IndexByte(v, 0) >= 0 {
		return "a NUL byte"
	}
	// Outside strings valid JSON has no backslash, so a flat walk will do.
	esc := func(i int) (rune, bool) {
		if i+6 > len(v) || v[i] != '\\' || v[i+1] != 'u' {
			return 0, false
		}
		r, err := strconv.ParseUint(string(v[i+2:i+6]), 16, 32)
		return rune(r), err == nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		r, ok := esc(i)
		if !ok {
			i++ // \" \\ and the like
			continue
		}
		switch {
		case r == 0:
			return "\\u0000 at byte " + itoa(i)
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := esc(i + 6); !ok || lo < 0xDC00 || lo >= 0xE000 {
				return "a lone high surrogate at byte " + itoa(i)
			}
			i += 6
		case r >= 0xDC00 && r < 0xE000:
			return "a lone low surrogate at byte " + itoa(i)
		}
		i += 5
	}
	return ""
}

// unambiguous is the fuzz oracle of the strict reading, with encoding/json's
// tokens: no object holds a key twice, nesting stays within maxDepth, and
// every number fits a float64.
func unambiguous(v []byte) string {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	type obj struct {
		keys  map[string]bool
		isKey bool // the next token of this object is a key
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "token: " + err.Error()
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return "duplicate key " + strconv.Quote(k)
			}
			top.keys[k] = true
			top.isKey = false
			continue
		}
		if top != nil && top.keys != nil {
			top.isKey = true // after this value, a key or '}'
		}
		switch x := tok.(type) {
		case json.Delim:
			switch x {
			case '{':
				stack = append(stack, &obj{keys: map[string]bool{}, isKey: true})
			case '[':
				stack = append(stack, &obj{})
			default: // ']'
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].keys != nil {
					stack[len(stack)-1].isKey = true
				}
			}
			if len(stack) > maxDepth {
				return "nested deeper than " + itoa(maxDepth)
			}
		case json.Number:
			if _, err := x.Float64(); err != nil {
				return "number " + x.String() + ": " + err.Error()
			}
		}
	}
}
