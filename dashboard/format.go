package dashboard

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// How the page writes numbers, durations, ages and labels.

// cut shortens a label to maxLabelR runes.
func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxLabelR {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:maxLabelR-1])) + "…"
}

// fmtInt writes n with thin spaces between thousands: 12 345.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtPct writes a share as SQL rounded it (one decimal).
func fmtPct(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) }

func fmtMs(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%d ms", ms)
	}
	return fmt.Sprintf("%.1f s", float64(ms)/1000)
}

// ago is a short age: 5s, 3m, 2h, 4d.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// plural is "1 user", "2 users".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtInt(n) + " " + many
}
