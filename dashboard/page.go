package dashboard

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/health"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// What the page shows.
const (
	dishesShown  = 10 // dishes per chart
	pageBatches  = 12 // rows of the batches table
	healthBudget = 2 * time.Second
)

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

// pageData is everything the template renders.
type pageData struct {
	Generated time.Time
	Refresh   int // seconds, 0 = off
	Topic     string
	Group     string
	Tiles     []tile
	Marts     []chart
	Tags      chart
	Lag       chart
	LagErr    string
	Rejected  rejectedChart
	Batches   []batchRow
	Verify    verifyLine
	Stall     *stallBanner // nil while the pipeline is not stalled (stall.go)
}

// tile is one number of the summary row.
type tile struct {
	ID, Label, Value, Note string
	Warn                   bool
}

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

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	refresh := int(DefaultRefresh / time.Second)
	if v := r.URL.Query().Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			http.Error(w, "refresh must be seconds from 0 (off) to 3600", http.StatusBadRequest)
			return
		}
		refresh = n
	}
	d, err := s.page(r.Context())
	if err != nil {
		// 503: the page cannot be drawn now; the cause is logged, not shown.
		_, _, id := s.logServerError(w, r, err)
		http.Error(w, "the warehouse could not answer (request id "+id+")", http.StatusServiceUnavailable)
		return
	}
	d.Refresh = refresh
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		_, _, id := s.logServerError(w, r, err)
		http.Error(w, "internal error (request id "+id+")", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Everything is inline or from this server: no CDN, nothing external.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "+
		"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}

// collect reads every chart's rows, in read-only transactions, and the lag
// (health.Take) meanwhile: one snapshot of the page.
func (s *Server) collect(ctx context.Context) (pageData, error) {
	d := pageData{Generated: s.now().UTC(), Topic: s.cfg.Kafka.InputTopic, Group: s.cfg.Kafka.Group}

	type healthResult struct {
		rep health.Report
		err error
	}
	hc := make(chan healthResult, 1)
	if s.adm != nil {
		go func() {
			hctx, cancel := context.WithTimeout(ctx, healthBudget)
			defer cancel()
			rep, err := health.Take(hctx, s.cfg, s.pool, s.adm)
			hc <- healthResult{rep, err}
		}()
	} else {
		hc <- healthResult{err: fmt.Errorf("no Kafka client")}
	}

	// Two read-only transactions at once: the dishes (the product mart's
	// aggregate, the slow one) beside everything else; with the lag, three
	// connections at most.
	var (
		catUsers, catOrders   []TopCategory
		dishUsers, dishOrders []Dish
		tags                  []TagCount
		batches               []Batch
		rejected              []RejectedCount
		users                 int64
		verified              *VerifyRun
		progress              health.Progress
	)
	err := parallel(
		func() error {
			return s.readOnly(ctx, func(tx pgx.Tx) (err error) {
				dishUsers, dishOrders, err = pageDishes(ctx, tx, dishesShown)
				return err
			})
		},
		func() error {
			return s.readOnly(ctx, func(tx pgx.Tx) (err error) {
				if catUsers, catOrders, users, err = pageCategories(ctx, tx, MaxLimit); err != nil {
					return err
				}
				if tags, err = tagCounts(ctx, tx); err != nil {
					return err
				}
				if progress, err = health.ReadProgress(ctx, tx, s.cfg.Pipeline.Shards); err != nil {
					return err
				}
				if batches, err = lastBatches(ctx, tx, pageBatches); err != nil {
					return err
				}
				if rejected, err = rejectedCounts(ctx, tx); err != nil {
					return err
				}
				verified, err = lastVerify(ctx, tx)
				return err
			})
		},
	)
	if err != nil {
		return d, err
	}
	h := <-hc
	var lagNow map[int32]int64 // nil: unknown, and only failing runs are judged
	if h.err == nil {
		lagNow = h.rep.Lag
	}
	d.Stall = stallBannerOf(health.Judge(progress, lagNow, s.cfg.Pipeline.ScheduleInterval))

	// The marts.
	d.Marts = []chart{
		barChart("cat-users", "Categories by share of users",
			"users with a counted order of the category, % of all users with an order", "#4f46e5",
			mapBars(catUsers, func(c TopCategory) (string, string, int64, float64) {
				return c.CategoryName, "", c.Users, c.UsersPct
			}), func(b bar) string { return b.Pct + "% · " + fmtInt(b.Value) }),
		barChart("cat-orders", "Categories by share of orders",
			"counted orders holding the category, % of all category orders", "#0d9488",
			mapBars(catOrders, func(c TopCategory) (string, string, int64, float64) {
				return c.CategoryName, "", c.Orders, c.OrdersPct
			}), func(b bar) string { return b.Pct + "% · " + fmtInt(b.Value) }),
		barChart("dish-users", fmt.Sprintf("Top %d dishes by users", dishesShown),
			"distinct users with a counted order of the dish (all restaurants)", "#d97706",
			mapBars(dishUsers, func(x Dish) (string, string, int64, float64) {
				return x.Dish, "", x.Users, x.UsersPct
			}), func(b bar) string { return fmtInt(b.Value) + " · " + b.Pct + "%" }),
		barChart("dish-orders", fmt.Sprintf("Top %d dishes by orders", dishesShown),
			"counted orders holding the dish", "#db2777",
			mapBars(dishOrders, func(x Dish) (string, string, int64, float64) {
				return x.Dish, "", x.Orders, x.OrdersPct
			}), func(b bar) string { return fmtInt(b.Value) + " · " + b.Pct + "%" }),
	}
	d.Tags = sizedChart(2*svgWidth, "tags", "Users per tag", "rules of cdm.tag_rules; a user holds a tag while the counter reaches the threshold", "#7c3aed",
		mapBars(tags, func(t TagCount) (string, string, int64, float64) {
			return t.Tag, t.TargetLabel + " ≥ " + strconv.Itoa(t.Threshold), t.Users, math.NaN()
		}), func(b bar) string { return plural(b.Value, "user", "users") })

	// Health.
	var lagBars []bar
	if h.err != nil {
		d.LagErr = h.err.Error()
	} else {
		parts := make([]int32, 0, len(h.rep.Lag))
		for p := range h.rep.Lag {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			lagBars = append(lagBars, bar{Label: fmt.Sprintf("partition %d", p), Value: h.rep.Lag[p], Pct: ""})
		}
	}
	d.Lag = barChart("lag", "Lag per partition", "records of "+d.Topic+" not yet committed by group "+d.Group, "#059669",
		lagBars, func(b bar) string { return fmtInt(b.Value) + " waiting" })
	if d.LagErr != "" {
		d.Lag.Empty = "lag unavailable: " + d.LagErr
	}
	d.Rejected = rejectedLayout(rejected)
	now := s.now()
	d.Verify = verifyLineOf(verified, now)
	var maxMs int64
	for _, b := range batches {
		if b.Ms != nil {
			maxMs = max(maxMs, *b.Ms)
		}
	}
	for _, b := range batches {
		d.Batches = append(d.Batches, batchOf(b, now, maxMs, s.cfg.Pipeline.RunTimeout))
	}

	// Summary.
	var openRej int64
	for _, r := range rejected {
		openRej += r.Open
	}
	lag := "?"
	if h.err == nil {
		lag = fmtInt(h.rep.TotalLag)
	}
	last, lastNote := "none yet", ""
	for _, b := range batches {
		if b.CommittedAt != nil {
			last = ago(now.Sub(*b.CommittedAt))
			lastNote = fmt.Sprintf("%s records", fmtInt(int64(b.Fetched)))
			break
		}
	}
	stg, batchesDone := "?", "?"
	if h.err == nil {
		stg, batchesDone = fmtInt(h.rep.StgOrders), fmtInt(h.rep.Batches)
	}
	d.Tiles = []tile{
		{ID: "users", Label: "users with orders", Value: fmtInt(users), Note: "in the marts"},
		{ID: "stg-orders", Label: "orders loaded", Value: stg, Note: "stg.order_events"},
		{ID: "lag", Label: "lag", Value: lag, Note: "records waiting", Warn: h.err != nil || h.rep.TotalLag > 0},
		{ID: "rejected-open", Label: "open rejected", Value: fmtInt(openRej), Note: "awaiting reprocess", Warn: openRej > 0},
		{ID: "batches", Label: "batches committed", Value: batchesDone, Note: "stg.batches"},
		{ID: "last-batch", Label: "last batch", Value: last, Note: lastNote},
	}
	return d, nil
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

// parallel runs fns at once and returns the first error.
func parallel(fns ...func() error) error {
	errs := make(chan error, len(fns))
	for _, fn := range fns {
		go func() { errs <- fn() }()
	}
	var first error
	for range fns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// plural is "1 user", "2 users".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtInt(n) + " " + many
}
