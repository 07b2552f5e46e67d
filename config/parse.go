package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type reader struct {
	lookup func(string) (string, bool)
	errs   []string
}

func (r *reader) fail(key, msg string) { r.errs = append(r.errs, key+" "+msg) }

func (r *reader) str(key, def string) string {
	if v, ok := r.lookup(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// roles reads a list of worker roles; Load checks each is Valid.
func (r *reader) roles(key, def string) []Role {
	var out []Role
	for _, s := range r.list(key, def) {
		out = append(out, Role(s))
	}
	return out
}

func joinRoles(rs []Role, sep string) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, sep)
}

func (r *reader) list(key, def string) []string {
	var out []string
	for _, part := range strings.Split(r.str(key, def), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (r *reader) integer(key string, def int) int {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not a whole number: %q", v))
		return def
	}
	return n
}

func (r *reader) float(key string, def float64) float64 {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not a number: %q", v))
		return def
	}
	return f
}

func (r *reader) boolean(key string, def bool) bool {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not true/false: %q", v))
		return def
	}
	return b
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not a duration like 25s: %q", v))
		return def
	}
	return d
}
