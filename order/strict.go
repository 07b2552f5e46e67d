package order

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
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

// open starts an object or array (kind '{' or '[') expected to be like sh.
func (s *strictScanner) open(kind byte, sh *shape) {
	s.kinds = append(s.kinds, kind)
	if !s.check || len(s.frames) != len(s.kinds)-1 {
		return
	}
	if len(s.kinds) > maxDepth {
		s.fail("%s: nested deeper than %d levels", s.path(), maxDepth)
		return
	}
	if sh != nil && sh.array != (kind == '[') {
		sh = nil
	}
	s.frames = append(s.frames, frame{shape: sh, keys0: len(s.keys)})
}

// close ends the innermost object or array.
func (s *strictScanner) close() {
	if s.check && len(s.frames) == len(s.kinds) {
		f := &s.frames[len(s.frames)-1]
		if f.variant != nil {
			name := f.variant
			exact := false
			for _, k := range s.keys[f.keys0:] {
				exact = exact || string(k) == f.of
			}
			f.key = []byte(f.of)
			known := s.path()
			f.key = name
			if exact {
				s.fail("%s: field names are case-sensitive (did you mean %s?)", s.path(), f.of)
			} else {
				s.fail("%s: missing (%s is not %s: field names are case-sensitive)", known, clip(string(name)), f.of)
			}
		}
	}
	if len(s.frames) == len(s.kinds) {
		s.keys = s.keys[:s.frames[len(s.frames)-1].keys0]
		s.frames = s.frames[:len(s.frames)-1]
	}
	s.kinds = s.kinds[:len(s.kinds)-1]
}

// elemShape is the expected shape of the next element of the innermost array.
func (s *strictScanner) elemShape() *shape {
	if !s.check || len(s.frames) != len(s.kinds) {
		return nil
	}
	if sh := s.frames[len(s.frames)-1].shape; sh != nil {
		return sh.elem
	}
	return nil
}

// key takes the key raw (the bytes between the quotes) of the innermost
// object, esc if it holds escapes, and returns the shape of its value.
func (s *strictScanner) key(raw []byte, esc bool, problem string) *shape {
	f := &s.frames[len(s.frames)-1]
	k := raw
	if esc {
		k = unescape(raw)
	}
	f.key = k
	if problem != "" {
		f.key = raw // as written: unescaped, a lone surrogate would read U+FFFD
		s.fail("%s: field name %s", s.path(), problem)
		return nil
	}
	if f.seen != nil {
		if _, dup := f.seen[string(k)]; dup {
			s.fail("%s: duplicate key", s.path())
			return nil
		}
		f.seen[string(k)] = struct{}{}
	} else {
		for _, other := range s.keys[f.keys0:] {
			if bytes.Equal(other, k) {
				s.fail("%s: duplicate key", s.path())
				return nil
			}
		}
		if f.n == manyKeys {
			f.seen = make(map[string]struct{}, 2*manyKeys)
			for _, other := range s.keys[f.keys0:] {
				f.seen[string(other)] = struct{}{}
			}
			f.seen[string(k)] = struct{}{}
		}
	}
	s.keys = append(s.keys, k)
	f.n++
	if f.shape == nil {
		return nil
	}
	for _, fd := range f.shape.fields {
		if string(k) == fd.name {
			return fd.value
		}
	}
	if f.variant == nil {
		for _, fd := range f.shape.fields {
			if bytes.EqualFold(k, []byte(fd.name)) {
				f.variant, f.of = k, fd.name
				break
			}
		}
	}
	return nil
}

// path names the value being read: payload.order_items[0].name.
func (s *strictScanner) path() string {
	var b strings.Builder
	for i := range s.frames {
		f := &s.frames[i]
		if s.kinds[i] == '[' {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(f.n))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write([]byte(clip(string(f.key))))
	}
	if b.Len() == 0 {
		return "value"
	}
	return b.String()
}

// str reads a string from its opening quote past its closing one. It
// reports a problem that breaks a rule ("" if none), whether the string
// holds escapes, and false if it is not a JSON string.
func (s *strictScanner) str() (problem string, esc bool, ok bool) {
	d := s.data
	i := s.i + 1
	for {
		// The common case: a run of plain bytes.
		for i < len(d) && d[i] != '"' && d[i] != '\\' && d[i] >= 0x20 {
			i++
		}
		if i >= len(d) {
			s.i = i
			return "", esc, s.syntax("unexpected end of JSON input")
		}
		switch c := d[i]; {
		case c == '"':
			s.i = i + 1
			return problem, esc, true
		case c == 0:
			// Not JSON, strictly, but CONTRACT §2 names it: a string holding
			// U+0000 raw or escaped is invalid_order.
			if problem == "" {
				problem = "contains a NUL character (U+0000, which PostgreSQL cannot store)"
			}
			i++
		case c < 0x20:
			s.i = i
			return "", esc, s.syntax("invalid character " + quoteChar(c) + " in string literal")
		default: // a backslash
			esc = true
			if i+1 >= len(d) {
				s.i = i + 1
				return "", esc, s.syntax("unexpected end of JSON input")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
			default:
				s.i = i + 1
				return "", esc, s.syntax("invalid character " + quoteChar(d[i+1]) + " in string escape code")
			}
			r, n := hex4(d[i+2:])
			if n < 4 {
				s.i = i + 2 + n
				return "", esc, s.syntax("invalid character in \\u hexadecimal character escape")
			}
			i += 6
			switch {
			case r == 0:
				if problem == "" {
					problem = "contains a NUL character (U+0000, which PostgreSQL cannot store)"
				}
			case r >= 0xD800 && r < 0xDC00:
				// A high surrogate must be followed by an escaped low one.
				if lo, n := hex4Escape(d[i:]); n == 6 && lo >= 0xDC00 && lo < 0xE000 {
					i += 6
				} else if problem == "" {
					problem = "contains a lone surrogate \\u" + strings.ToLower(string(d[i-4:i])) + " (PostgreSQL cannot read it)"
				}
			case r >= 0xDC00 && r < 0xE000:
				if problem == "" {
					problem = "contains a lone surrogate \\u" + strings.ToLower(string(d[i-4:i])) + " (PostgreSQL cannot read it)"
				}
			}
		}
	}
}

// hex4 reads four hex digits; n < 4 tells where the first non-digit is.
func hex4(b []byte) (r rune, n int) {
	for n < 4 && n < len(b) {
		c := b[n]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return r, n
		}
		r = r<<4 | rune(c)
		n++
	}
	return r, n
}

// hex4Escape reads a \uXXXX escape; n is 6 if there is one.
func hex4Escape(b []byte) (r rune, n int) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, 0
	}
	r, n = hex4(b[2:])
	return r, n + 2
}

// unescape decodes the escapes of a JSON string's bytes (between the
// quotes), which str has checked.
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			i += 6
			if r >= 0xD800 && r < 0xDC00 {
				if lo, n := hex4Escape(raw[i:]); n == 6 && lo >= 0xDC00 && lo < 0xE000 {
					r = (r-0xD800)<<10 | (lo - 0xDC00) + 0x10000
					i += 6
				}
			}
			out = utf8.AppendRune(out, r) // a lone surrogate becomes U+FFFD
			continue
		default: // " \ /
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}

// number reads a number and checks that it fits a float64 and PostgreSQL's
// numeric.
func (s *strictScanner) number() bool {
	d := s.data
	start := s.i
	i := s.i
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		digits()
	default:
		s.i = i
		return s.syntax("invalid character in numeric literal")
	}
	intEnd := i
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			s.i = i
			return s.syntax("invalid character after decimal point in numeric literal")
		}
	}
	exp := false
	expBig := false
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		exp = true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		if digits() == 0 {
			s.i = i
			return s.syntax("invalid character in exponent of numeric literal")
		}
		for j < i-1 && d[j] == '0' {
			j++
		}
		e, _ := strconv.Atoi(string(d[j:min(i, j+5)]))
		expBig = i-j > 4 || e > maxExponent
	}
	s.i = i
	if !s.check {
		return true
	}
	lit := d[start:i]
	switch {
	case len(lit) > maxNumberLen:
		s.fail("%s: number longer than %d characters", s.path(), maxNumberLen)
	case expBig:
		s.fail("%s: number %s is out of range", s.path(), clip(string(lit)))
	case exp || intEnd-start > 300:
		if _, err := strconv.ParseFloat(string(lit), 64); err != nil {
			s.fail("%s: number %s does not fit a float64", s.path(), clip(string(lit)))
		}
	}
	return true
}

func (s *strictScanner) literal(word string) bool {
	if !bytes.HasPrefix(s.data[s.i:], []byte(word)) {
		for j := 0; j < len(word) && s.i < len(s.data) && s.data[s.i] == word[j]; j++ {
			s.i++
		}
		if s.i >= len(s.data) {
			return s.syntax("unexpected end of JSON input")
		}
		return s.syntax("invalid character " + quoteChar(s.data[s.i]) + " in literal " + word)
	}
	s.i += len(word)
	return true
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	q := strconv.Quote(string(rune(c)))
	if c >= 0x80 {
		q = strconv.Quote(string([]byte{c}))
	}
	return "'" + q[1:len(q)-1] + "'"
}
