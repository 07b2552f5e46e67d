package dashboard

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/health"
)

// checkPage loads the dashboard in chromium and checks every chart against
// the SQL it is drawn from, run here again.
func checkPage(t *testing.T, b *browser, base string, s *stack) {
	ctx := context.Background()
	p := b.load(t, base+"/")
	if p.Refresh != strconv.Itoa(int(DefaultRefresh/time.Second)) {
		t.Errorf("the page refreshes every %q s, want %s", p.Refresh, DefaultRefresh)
	}

	// The marts' charts: page_categories.sql and page_dishes.sql.
	type row struct {
		by, name            string
		value               int64
		usersPct, ordersPct float64
	}
	var totalUsers int64
	charts := map[string][]row{}
	// bars adds the rows of a marts query (by, name, users, orders, users
	// %, orders %, then extra) to the charts prefix-users and prefix-orders.
	bars := func(prefix string, rows pgx.Rows, extra ...any) {
		t.Helper()
		var r row
		var users, orders int64
		if _, err := pgx.ForEachRow(rows, append([]any{&r.by, &r.name, &users, &orders, &r.usersPct, &r.ordersPct}, extra...), func() error {
			if r.by == "users" {
				charts[prefix+"-users"] = append(charts[prefix+"-users"], row{name: r.name, value: users, usersPct: r.usersPct})
			} else {
				charts[prefix+"-orders"] = append(charts[prefix+"-orders"], row{name: r.name, value: orders, usersPct: r.ordersPct})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := s.pool.Query(ctx, query("page_categories"), MaxLimit)
	bars("cat", rows, &totalUsers)
	rows, _ = s.pool.Query(ctx, query("page_dishes"), dishesShown)
	bars("dish", rows)
	rows, _ = s.pool.Query(ctx, query("tag_counts"))
	var ruleID, threshold int
	var kind, target, label string
	var r row
	if _, err := pgx.ForEachRow(rows, []any{&ruleID, &r.name, &kind, &target, &label, &threshold, &r.value}, func() error {
		charts["tags"] = append(charts["tags"], row{name: r.name, value: r.value, usersPct: -1})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := health.Take(ctx, s.cfg, s.pool, s.adm)
	if err != nil {
		t.Fatal(err)
	}
	for part := range len(rep.Lag) {
		charts["lag"] = append(charts["lag"], row{name: fmt.Sprintf("partition %d", part), value: rep.Lag[int32(part)], usersPct: -1})
	}
	if rep.TotalLag != 1 {
		t.Errorf("lag %d, want the 1 waiting cancellation", rep.TotalLag)
	}
	for id, exp := range charts {
		got := p.Charts[id]
		if len(got) != len(exp) || len(exp) == 0 {
			t.Errorf("chart %s: %d bars on the page, %d rows from SQL", id, len(got), len(exp))
			continue
		}
		top := 0.0
		for i, e := range exp {
			g := got[i]
			wantPct := ""
			if e.usersPct >= 0 {
				wantPct = fmtPct(e.usersPct)
			}
			if g.Label != e.name || g.Value != strconv.FormatInt(e.value, 10) || g.Pct != wantPct {
				t.Errorf("chart %s bar %d: page says %q = %s (%s%%), SQL says %q = %d (%s%%)", id, i, g.Label, g.Value, g.Pct, e.name, e.value, wantPct)
			}
			if !strings.Contains(g.Text, fmtInt(e.value)) || !strings.Contains(g.Text, wantPct) {
				t.Errorf("chart %s bar %q shows %q, which lacks %s or %s", id, e.name, g.Text, fmtInt(e.value), wantPct)
			}
			width, err := strconv.ParseFloat(g.Width, 64)
			sorted := id != "lag" // the lag chart is by partition
			if err != nil || (e.value > 0) != (width > 0) || (sorted && i > 0 && width > top+0.5) {
				t.Errorf("chart %s bar %q: drawn %s px wide for %d (longest so far %.1f)", id, e.name, g.Width, e.value, top)
			}
			top = max(top, width)
		}
	}

	// Rejected messages by reason: rejected.sql.
	rows, _ = s.pool.Query(ctx, query("rejected"))
	var reason string
	var open, resolved int64
	i := 0
	if _, err := pgx.ForEachRow(rows, []any{&reason, &open, &resolved}, func() error {
		got := p.Charts["rejected"]
		if i >= len(got) || got[i].Label != reason || got[i].Open != strconv.FormatInt(open, 10) || got[i].Resolved != strconv.FormatInt(resolved, 10) {
			t.Errorf("rejected row %d: SQL says %s %d open %d resolved; page: %+v", i, reason, open, resolved, got)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var openTotal int64
	for _, g := range p.Charts["rejected"] {
		n, _ := strconv.ParseInt(g.Open, 10, 64)
		openTotal += n
	}
	if i != len(p.Charts["rejected"]) || openTotal == 0 {
		t.Errorf("rejected: %d reasons from SQL, %d on the page, %d open (the history has rejected messages)", i, len(p.Charts["rejected"]), openTotal)
	}

	// The last batches: batches.sql.
	rows, _ = s.pool.Query(ctx, query("batches"), pageBatches)
	batches, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Batch, error) {
		var b Batch
		return b, row.Scan(&b.ID, &b.Shard, &b.Shards, &b.StartedAt, &b.CommittedAt, &b.Fetched, &b.Backlog, &b.Orders, &b.Rejected, &b.Ms)
	})
	if err != nil {
		t.Fatal(err)
	}
	str := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	if len(batches) == 0 || len(p.Batches) != len(batches) {
		t.Errorf("batches: %d rows on the page, %d from SQL", len(p.Batches), len(batches))
	}
	fetched := 0
	for i, b := range batches {
		if i >= len(p.Batches) {
			break
		}
		g := p.Batches[i]
		ms := ""
		if b.Ms != nil {
			ms = strconv.FormatInt(*b.Ms, 10)
		}
		if g.Batch != b.ID || g.Records != strconv.Itoa(b.Fetched) || g.Orders != str(b.Orders) || g.Rejected != str(b.Rejected) || g.Ms != ms {
			t.Errorf("batch %d: page %+v, SQL %s records %d orders %s rejected %s ms %s", i, g, b.ID, b.Fetched, str(b.Orders), str(b.Rejected), ms)
		}
		fetched += b.Fetched
	}
	if fetched == 0 {
		t.Errorf("the last batches moved no record")
	}

	// The summary tiles.
	var openRejected int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM stg.rejected_messages WHERE resolved_at IS NULL`).Scan(&openRejected); err != nil {
		t.Fatal(err)
	}
	for tile, exp := range map[string]string{
		"users": fmtInt(totalUsers), "stg-orders": fmtInt(rep.StgOrders), "lag": fmtInt(rep.TotalLag),
		"rejected-open": fmtInt(openRejected), "batches": fmtInt(rep.Batches),
	} {
		if p.Tiles[tile] != exp {
			t.Errorf("tile %s says %q, want %q", tile, p.Tiles[tile], exp)
		}
	}

	// Offline: nothing but this server was asked for; no console error.
	if off := b.offsite(base); len(off) > 0 {
		t.Errorf("the page fetched from elsewhere: %v", off)
	}
	if issues := b.issues(); len(issues) > 0 {
		t.Errorf("the browser console reports: %v", issues)
	}

	// It refreshes itself: with ?refresh=1 the charts are replaced within seconds.
	first := b.load(t, base+"/?refresh=1").Generated
	deadline := time.Now().Add(6 * time.Second)
	for {
		q := b.read(t)
		if q.Generated != first {
			if q.Charts["tags"][0].Value != p.Charts["tags"][0].Value {
				t.Errorf("after a refresh the tags chart says %s, before %s", q.Charts["tags"][0].Value, p.Charts["tags"][0].Value)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the page did not refresh itself within 6 s (generated %s)", first)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = b.load(t, base+"/")
}
