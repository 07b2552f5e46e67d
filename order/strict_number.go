package order

import (
	"bytes"
	"strconv"
)

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
