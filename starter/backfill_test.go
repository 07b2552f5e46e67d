package starter

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/config"
)

func TestSlicesCoverTheRangeOnTheGrid(t *testing.T) {
	var cfg config.Config
	cfg.Pipeline.ScheduleInterval = 25 * time.Second
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		from, to, first, last string
		n                     int
	}{
		// 10:00:00 is on the grid (a whole number of 25 s since the epoch).
		{"2026-12-03T10:00:00Z", "2026-12-03T10:00:50Z", "2026-12-03T10:00:25Z", "2026-12-03T10:00:50Z", 2},
		{"2026-12-03T10:00:10Z", "2026-12-03T10:00:51Z", "2026-12-03T10:00:25Z", "2026-12-03T10:01:15Z", 3},
		{"2026-12-03T10:00:24.999Z", "2026-12-03T10:00:25Z", "2026-12-03T10:00:25Z", "2026-12-03T10:00:25Z", 1},
		{"2026-12-03T10:00:25Z", "2026-12-03T10:00:25Z", "", "", 0},
	} {
		first, last, n := Slices(cfg, at(c.from), at(c.to))
		if n != c.n || (n > 0 && (!first.Equal(at(c.first)) || !last.Equal(at(c.last)))) {
			t.Errorf("Slices(%s, %s) = %s, %s, %d; want %s, %s, %d", c.from, c.to, first, last, n, c.first, c.last, c.n)
		}
	}
}
