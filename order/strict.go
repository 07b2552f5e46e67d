package order

import (
	"strconv"
	"sync"
)

// The strict reading of CONTRACT §2. encoding/json matches field names
// case-insensitively, lets the last of two equal keys win and reads \u0000
// and lone surrogates; PostgreSQL's JSON operators refuse the last two and
// recurse on nesting. checkStrict makes one pass over a record's value
// before the typed decode and rejects what the typed decode would read
// ambiguously or PostgreSQL could not read:
//
//   - a key that differs from a known field only by case, where that field
//     is known (see topShape): payload.Final_Status is not final_status;
//   - an object holding the same key twice (keys compared unescaped);
//   - a string, key or value, holding U+0000 (raw or \u0000) or a \uXXXX
//     escape of a lone surrogate;
//   - objects and arrays nested more than maxDepth deep;
//   - a number that does not fit a float64 (1e400), or whose exponent or
//     length would overflow PostgreSQL's numeric (jsonb stores numbers so).
//
// Unknown fields are allowed, so is any nesting and key case inside them.
// It also checks the syntax of the whole value, so that a value that is not
// JSON at all is told apart (malformed_json) from one that breaks a rule
// (invalid_order).

// maxDepth is how deeply objects and arrays may nest: an order needs 4.
const maxDepth = 32

// maxNumberLen is the longest number literal accepted, and maxExponent the
// largest exponent written: both keep a number well inside PostgreSQL's
// numeric (131072 digits before the point, 16383 after).
const (
	maxNumberLen = 400
	maxExponent  = 1000
)

// shape is the part of the order schema a strict reading knows: the fields
// of an object (whose names must match exactly) or the elements of an array.
type shape struct {
	array  bool
	elem   *shape       // an array's elements
	fields []shapeField // an object's known fields
}

type shapeField struct {
	name  string
	value *shape // nil for a scalar
}

func object(fields ...shapeField) *shape { return &shape{fields: fields} }
func arrayOf(elem *shape) *shape         { return &shape{array: true, elem: elem} }
func scalar(name string) shapeField      { return shapeField{name: name} }

var (
	refShape     = object(scalar("id"))
	itemShape    = object(scalar("id"), scalar("name"), scalar("price"), scalar("quantity"))
	statusShape  = object(scalar("status"), scalar("dttm"))
	payloadShape = object(
		shapeField{"restaurant", refShape}, scalar("date"), shapeField{"user", refShape},
		shapeField{"order_items", arrayOf(itemShape)}, scalar("cost"), scalar("payment"),
		scalar("final_status"), scalar("update_ts"), shapeField{"statuses", arrayOf(statusShape)},
		scalar("bonus_payment"), scalar("bonus_grant"))
	topShape = object(scalar("object_id"), scalar("object_type"), scalar("sent_dttm"),
		shapeField{"payload", payloadShape})
)

// frame is one open object or array within maxDepth.
type frame struct {
	shape   *shape // what is known of it, or nil
	next    *shape // object: the shape of the current key's value
	key     []byte // object: the current key, unescaped
	n       int    // array: index of the current element; object: keys seen
	keys0   int    // object: where its keys start in strictScanner.keys
	seen    map[string]struct{}
	variant []byte // object: the first key that is a known field in another case
	of      string // the known field it resembles
}

// manyKeys is how many keys an object holds before duplicates are looked up
// in a map rather than by comparing with each.
const manyKeys = 16

type strictScanner struct {
	data   []byte
	i      int
	kinds  []byte  // '{' or '[' for each open container, however deep
	frames []frame // the open containers within maxDepth, while checking
	keys   [][]byte
	check  bool       // still looking for broken rules (until the first)
	bad    *Rejection // the first broken rule
	synErr string     // the syntax error, if the value is not JSON

	kindsBuf  [maxDepth]byte
	framesBuf [8]frame
	keysBuf   [48][]byte
}

// checkStrict returns a malformed_json rejection for a value that is not
// JSON, an invalid_order one for a value that breaks a rule above, or nil.
// value must be valid UTF-8.
func checkStrict(value []byte) *Rejection {
	s := scanners.Get().(*strictScanner)
	defer s.release()
	s.data, s.check = value, true
	if !s.scan() {
		detail := syntaxDetail(value)
		if detail == "unknown syntax error" {
			detail = s.synErr
		}
		return reject(ReasonMalformedJSON, "value is not valid JSON: %s", detail)
	}
	return s.bad
}

// scanners keeps scanners, buffers and all, from one value to the next: a
// scanner is too big for the stack once its slices point into its buffers.
var scanners = sync.Pool{New: func() any {
	s := new(strictScanner)
	s.kinds, s.frames, s.keys = s.kindsBuf[:0], s.framesBuf[:0], s.keysBuf[:0]
	return s
}}

// release returns s to scanners, keeping none of the value it read.
func (s *strictScanner) release() {
	clear(s.frames[:cap(s.frames)])
	clear(s.keys[:cap(s.keys)])
	if cap(s.kinds) > 4*maxDepth || cap(s.frames) > maxDepth || cap(s.keys) > 1024 {
		return // grown by an odd value: let it go
	}
	*s = strictScanner{kinds: s.kinds[:0], frames: s.frames[:0], keys: s.keys[:0]}
	scanners.Put(s)
}

// scan reads the whole value, noting the first broken rule in s.bad; it
// reports false if the value is not JSON.
func (s *strictScanner) scan() bool {
	const (
		stValue = iota // before a value
		stAfter        // after a value
		stKey          // before an object's key
	)
	next := topShape
	state := stValue
	for {
		switch state {
		case stValue:
			s.skipSpace()
			if s.i >= len(s.data) {
				return s.syntax("unexpected end of JSON input")
			}
			switch c := s.data[s.i]; {
			case c == '{' || c == '[':
				s.open(c, next)
				s.i++
				s.skipSpace()
				if c == '{' {
					if s.i < len(s.data) && s.data[s.i] == '}' {
						s.i++
						s.close()
						state = stAfter
					} else {
						state = stKey
					}
				} else {
					if s.i < len(s.data) && s.data[s.i] == ']' {
						s.i++
						s.close()
						state = stAfter
					} else {
						next = s.elemShape()
						state = stValue
					}
				}
				continue
			case c == '"':
				problem, _, ok := s.str()
				if !ok {
					return false
				}
				if problem != "" && s.check {
					s.fail("%s: %s", s.path(), problem)
				}
			case c == '-' || (c >= '0' && c <= '9'):
				if !s.number() {
					return false
				}
			case c == 't':
				if !s.literal("true") {
					return false
				}
			case c == 'f':
				if !s.literal("false") {
					return false
				}
			case c == 'n':
				if !s.literal("null") {
					return false
				}
			default:
				return s.syntax("invalid character " + quoteChar(c) + " looking for beginning of value")
			}
			state = stAfter
		case stAfter:
			s.skipSpace()
			if len(s.kinds) == 0 {
				if s.i < len(s.data) {
					return s.syntax("invalid character " + quoteChar(s.data[s.i]) + " after top-level value")
				}
				return true
			}
			if s.i >= len(s.data) {
				return s.syntax("unexpected end of JSON input")
			}
			c := s.data[s.i]
			kind := s.kinds[len(s.kinds)-1]
			switch {
			case c == ',':
				s.i++
				if kind == '{' {
					state = stKey
				} else {
					if s.check && len(s.frames) == len(s.kinds) {
						s.frames[len(s.frames)-1].n++
					}
					next = s.elemShape()
					state = stValue
				}
			case kind == '{' && c == '}' || kind == '[' && c == ']':
				s.i++
				s.close()
			default:
				return s.syntax("invalid character " + quoteChar(c) + " after " + map[byte]string{'{': "object key:value pair", '[': "array element"}[kind])
			}
		case stKey:
			s.skipSpace()
			if s.i >= len(s.data) {
				return s.syntax("unexpected end of JSON input")
			}
			if s.data[s.i] != '"' {
				return s.syntax("invalid character " + quoteChar(s.data[s.i]) + " looking for beginning of object key string")
			}
			start := s.i + 1
			problem, esc, ok := s.str()
			if !ok {
				return false
			}
			if s.check && len(s.frames) == len(s.kinds) {
				next = s.key(s.data[start:s.i-1], esc, problem)
			}
			s.skipSpace()
			if s.i >= len(s.data) {
				return s.syntax("unexpected end of JSON input")
			}
			if s.data[s.i] != ':' {
				return s.syntax("invalid character " + quoteChar(s.data[s.i]) + " after object key")
			}
			s.i++
			state = stValue
		}
	}
}

func (s *strictScanner) skipSpace() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *strictScanner) syntax(msg string) bool {
	s.synErr = msg + " at byte " + strconv.Itoa(s.i)
	return false
}

// fail notes a broken rule; only the first counts, and checking stops there.
func (s *strictScanner) fail(format string, args ...any) {
	if s.check {
		s.bad = reject(ReasonInvalidOrder, format, args...)
		s.check = false
	}
}
