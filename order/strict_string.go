package order

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

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
