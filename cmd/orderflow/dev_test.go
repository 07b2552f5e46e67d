package main

import (
	"testing"
	"time"
)

// TestPrintDue: dev's progress line is printed when it changes, and a
// minute after it was last printed.
func TestPrintDue(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name           string
		line, lastLine string
		after          time.Duration
		want           bool
	}{
		{"first line", "lag 0", "", 0, true},
		{"same line within a minute", "lag 0", "lag 0", 2 * time.Second, false},
		{"same line 59 s later", "lag 0", "lag 0", 59 * time.Second, false},
		{"changed line", "lag 5", "lag 0", 2 * time.Second, true},
		{"same line a minute later", "lag 0", "lag 0", 60 * time.Second, true},
	} {
		if got := printDue(c.line, c.lastLine, t0.Add(c.after), t0); got != c.want {
			t.Errorf("%s: printDue = %v, want %v", c.name, got, c.want)
		}
	}
}
