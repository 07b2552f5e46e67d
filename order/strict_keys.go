package order

import (
	"bytes"
	"strconv"
	"strings"
)

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
