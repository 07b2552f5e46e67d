package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report is the result of one verification.
type Report struct {
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration"`
	// CountedOrders is how many orders the vault says count (current status CLOSED).
	CountedOrders int64 `json:"counted_orders"`
	// ProductKeys and CategoryKeys are the (user, product) and (user,
	// category) counters compared: the union of the recomputed ones, the
	// per-user counters' and the marts'.
	ProductKeys  int64 `json:"product_keys"`
	CategoryKeys int64 `json:"category_keys"`
	// VaultRows is how many link and satellite rows the orphan check read.
	VaultRows int64 `json:"vault_rows"`
	// Differences are the mismatches, sorted by table, kind, user, key.
	Differences []Difference `json:"differences"`
	// InFlight are differences a batch still in flight explains: not mismatches.
	InFlight []Difference `json:"in_flight"`
	// Orphans has one entry per (table, hub column), orphans or not.
	Orphans []Orphans `json:"orphans"`
}

// RowsChecked is every counter compared plus every vault row checked for orphans.
func (r Report) RowsChecked() int64 { return r.ProductKeys + r.CategoryKeys + r.VaultRows }

// OrphanRows is how many link and satellite rows (array elements) name a missing hub.
func (r Report) OrphanRows() int64 {
	var n int64
	for _, o := range r.Orphans {
		n += o.Orphans
	}
	return n
}

// Mismatches counts every problem: differences plus orphan rows.
func (r Report) Mismatches() int64 { return int64(len(r.Differences)) + r.OrphanRows() }

// Clean is true when Verify found nothing wrong.
func (r Report) Clean() bool { return r.Mismatches() == 0 }

// Summary is one line: clean or how many mismatches, what was checked, how long it took.
func (r Report) Summary() string {
	checked := fmt.Sprintf("%s rows checked (%s product and %s category counters over %s counted orders, %s link and satellite rows) in %s",
		num(r.RowsChecked()), num(r.ProductKeys), num(r.CategoryKeys), num(r.CountedOrders), num(r.VaultRows),
		r.Duration.Round(time.Millisecond))
	if r.Clean() {
		return "verify: clean: " + checked
	}
	var counts, names int
	for _, d := range r.Differences {
		if d.Kind == "name" {
			names++
		} else {
			counts++
		}
	}
	return fmt.Sprintf("verify: %s mismatches (%s counter differences, %s name differences, %s orphan rows): %s",
		num(r.Mismatches()), num(int64(counts)), num(int64(names)), num(r.OrphanRows()), checked)
}

// Write prints the summary, every difference up to limit lines (then how
// many more), the orphans per table, and how many differences in-flight
// batches explain.
func (r Report) Write(w io.Writer, limit int) error {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n")
	for i, d := range r.Differences {
		if limit >= 0 && i >= limit {
			fmt.Fprintf(&b, "... and %s more differences\n", num(int64(len(r.Differences)-i)))
			break
		}
		b.WriteString("  " + d.String() + "\n")
	}
	for _, o := range r.Orphans {
		if o.Orphans > 0 {
			fmt.Fprintf(&b, "  orphans: %s.%s: %s of %s rows name a missing hub\n", o.Table, o.Column, num(o.Orphans), num(o.Rows))
		}
	}
	if n := len(r.InFlight); n > 0 {
		fmt.Fprintf(&b, "  in flight: %s differences skipped: a batch that has not finished explains them (run again when the pipeline is idle)\n", num(int64(n)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Detail is the JSON stored with a run (stg.verify_runs.detail): the
// counts, the first limit differences, how many by table and kind, the
// orphan checks that found orphans.
func (r Report) Detail(limit int) []byte {
	type detail struct {
		CountedOrders int64          `json:"counted_orders"`
		ProductKeys   int64          `json:"product_keys"`
		CategoryKeys  int64          `json:"category_keys"`
		VaultRows     int64          `json:"vault_rows"`
		Differences   int            `json:"differences"`
		ByTable       map[string]int `json:"by_table,omitempty"`
		First         []Difference   `json:"first,omitempty"`
		Orphans       []Orphans      `json:"orphans,omitempty"`
		InFlight      int            `json:"in_flight"`
	}
	d := detail{CountedOrders: r.CountedOrders, ProductKeys: r.ProductKeys, CategoryKeys: r.CategoryKeys,
		VaultRows: r.VaultRows, Differences: len(r.Differences), InFlight: len(r.InFlight), ByTable: map[string]int{}}
	for i, x := range r.Differences {
		d.ByTable[x.Table+" "+x.Kind]++
		if i < limit {
			d.First = append(d.First, x)
		}
	}
	for _, o := range r.Orphans {
		if o.Orphans > 0 {
			d.Orphans = append(d.Orphans, o)
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	return b
}

// num writes n with commas between thousands: 12,345.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
