package dashboard

import (
	"math"
	"strconv"
	"time"
)

// The page's charts: bars laid out as inline SVG (page.html draws them).

// SVG geometry of a bar chart (user units; the SVG scales to its card).
const (
	svgWidth  = 600
	labelW    = 190 // label column
	valueW    = 120 // room for the value after the longest bar
	rowH      = 26
	barH      = 16
	padTop    = 4
	noteRowH  = 34 // row height of a chart whose bars carry a note
	maxLabelR = 28 // runes of a label before it is cut with …
	durBarPx  = 90 // the longest duration bar of the batches table
)

// chart is one horizontal bar chart.
type chart struct {
	ID, Title, Subtitle, Empty string
	Color                      string
	Width, Height              int // of the SVG's viewBox
	Bars                       []bar
}

// bar is one row of a chart. Value (and Pct when the chart shows shares)
// are exactly the SQL result, in data-value and data-pct.
type bar struct {
	Label, Short, Note string
	Value              int64
	Pct                string // "" when the chart has no share
	Text               string // shown after the bar
	Y, W, TextX        int
	TextY, BarY        int
}

// rejectedChart is the stacked open/resolved bars per reason.
type rejectedChart struct {
	Height int
	Rows   []rejectedRow
}

type rejectedRow struct {
	Reason                 string
	Open, Resolved         int64
	Y, BarY, TextY         int
	OpenW, ResolvedX, ResW int
	TextX                  int
	Text                   string
}

// batchRow is a batch formatted for the table.
type batchRow struct {
	Batch
	Started, Ago, Duration, Status, StatusClass string
	OrdersText, RejectedText, MsText, ShortID   string // "" for null
	DurPx                                       int    // duration bar, relative to the longest shown
}

// mapBars turns rows into bars: label, note, value and share (NaN: none).
func mapBars[T any](rows []T, f func(T) (label, note string, value int64, pct float64)) []bar {
	out := make([]bar, 0, len(rows))
	for _, r := range rows {
		label, note, v, pct := f(r)
		b := bar{Label: label, Note: note, Value: v}
		if !math.IsNaN(pct) {
			b.Pct = fmtPct(pct)
		}
		out = append(out, b)
	}
	return out
}

// barChart lays bars out: lengths relative to the largest value.
func barChart(id, title, subtitle, color string, bars []bar, text func(bar) string) chart {
	return sizedChart(svgWidth, id, title, subtitle, color, bars, text)
}

// sizedChart is barChart with a viewBox width (a chart across the page is
// wider, so its text stays the size of the others').
func sizedChart(width int, id, title, subtitle, color string, bars []bar, text func(bar) string) chart {
	c := chart{ID: id, Title: title, Subtitle: subtitle, Color: color, Empty: "no data yet", Width: width}
	var top int64
	for _, b := range bars {
		top = max(top, b.Value)
	}
	rh := rowH
	for _, b := range bars {
		if b.Note != "" {
			rh = noteRowH
		}
	}
	span := width - labelW - valueW
	for i := range bars {
		b := &bars[i]
		b.Short = cut(b.Label)
		b.Y = padTop + i*rh
		b.BarY = b.Y + (rh-barH)/2
		b.TextY = b.Y + rh/2 + 4
		if top > 0 {
			b.W = int(math.Round(float64(b.Value) / float64(top) * float64(span)))
		}
		if b.Value > 0 && b.W < 2 {
			b.W = 2
		}
		b.TextX = labelW + b.W + 6
		b.Text = text(*b)
	}
	c.Bars = bars
	c.Height = padTop*2 + len(bars)*rh
	return c
}

// rejectedLayout stacks open (red) and resolved (grey) per reason.
func rejectedLayout(rows []RejectedCount) rejectedChart {
	var top int64
	for _, r := range rows {
		top = max(top, r.Open+r.Resolved)
	}
	span := float64(svgWidth - labelW - valueW - 30)
	c := rejectedChart{Height: padTop*2 + len(rows)*rowH}
	for i, r := range rows {
		row := rejectedRow{Reason: r.Reason, Open: r.Open, Resolved: r.Resolved, Y: padTop + i*rowH}
		row.BarY = row.Y + (rowH-barH)/2
		row.TextY = row.Y + rowH/2 + 4
		if top > 0 {
			row.OpenW = int(math.Round(float64(r.Open) / float64(top) * span))
			row.ResW = int(math.Round(float64(r.Resolved) / float64(top) * span))
		}
		if r.Open > 0 && row.OpenW < 2 {
			row.OpenW = 2
		}
		if r.Resolved > 0 && row.ResW < 2 {
			row.ResW = 2
		}
		row.ResolvedX = labelW + row.OpenW
		row.TextX = labelW + int(span) + 6
		row.Text = fmtInt(r.Open) + " open · " + fmtInt(r.Resolved) + " resolved"
		c.Rows = append(c.Rows, row)
	}
	return c
}

func batchOf(b Batch, now time.Time, maxMs int64, runTimeout time.Duration) batchRow {
	r := batchRow{Batch: b, Started: b.StartedAt.UTC().Format("01-02 15:04:05"), Ago: ago(now.Sub(b.StartedAt)), ShortID: b.ID}
	if n := len(b.ID); n > 12 {
		r.ShortID = "…" + b.ID[n-8:]
	}
	if b.Orders != nil {
		r.OrdersText = strconv.Itoa(*b.Orders)
	}
	if b.Rejected != nil {
		r.RejectedText = strconv.Itoa(*b.Rejected)
	}
	switch {
	case b.Ms != nil:
		r.MsText = strconv.FormatInt(*b.Ms, 10)
		r.Duration = fmtMs(*b.Ms)
		r.Status, r.StatusClass = "committed", "ok"
		if maxMs > 0 {
			r.DurPx = int(math.Round(float64(*b.Ms) / float64(maxMs) * durBarPx))
		}
	case runTimeout > 0 && now.Sub(b.StartedAt) > runTimeout:
		r.Duration, r.Status, r.StatusClass = "—", "not committed", "bad"
	default:
		r.Duration, r.Status, r.StatusClass = "…", "running", "run"
	}
	return r
}
