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
	"time"

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
