package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/pipeline"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// stack is a running pipeline (real schedule, workflow and workers of every
// role) and the clients the test uses.
type stack struct {
	cfg  config.Config
	pool *pgxpool.Pool
	rdb  redis.UniversalClient
	kcl  *kgo.Client
	adm  *kadm.Client
	tc   client.Client
}

func startStack(t *testing.T, cfg config.Config) *stack {
	t.Helper()
	s := &stack{cfg: cfg}
	pipeline.Start(t, cfg, testLogger(), &s.pool, &s.rdb, &s.kcl, &s.tc)
	s.adm = kafkaio.Admin(s.kcl)
	return s
}

// waitDrained waits until the group has committed every input record.
func (s *stack) waitDrained(t *testing.T) health.Report {
	t.Helper()
	return pipeline.Drained(t, s.cfg, s.pool, s.adm, 3*time.Minute)
}

// pause stops the schedule and waits for the running batch to end, so
// nothing changes in the warehouse while the test looks.
func (s *stack) pause(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := starter.Pause(ctx, s.tc, s.cfg, "dashboard test looks"); err != nil {
		t.Fatal(err)
	}
	pipeline.WaitIdle(t, s.tc, s.cfg, time.Minute)
}

func (s *stack) resume(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := starter.Resume(ctx, s.tc, s.cfg, "dashboard test done looking"); err != nil {
		t.Fatal(err)
	}
	if err := starter.Trigger(ctx, s.tc, s.cfg); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineTagsAPIAndDashboard runs the real pipeline on generated orders
// and checks, against the simulator's oracle: cdm.user_tags, the bi views,
// the API, and the dashboard as headless chromium shows it (every chart's
// numbers equal its SQL's); then cancels an order that made a user reach a
// tag's threshold and checks the tag goes everywhere.
func TestPipelineTagsAPIAndDashboard(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t, 2)
	cfg.Pipeline.ScheduleInterval = 2 * time.Second
	cfg.Pipeline.BatchSize = 100
	cfg.Pipeline.DrainBatchSize = 1000

	w, msgs, want := pipeline.Generate(t, simulator.Options{Users: 150, Restaurants: 5, End: time.Now().UTC()}, 2000)

	s := startStack(t, cfg)
	pipeline.Feed(t, cfg, s.rdb, s.kcl, s.tc, w, msgs)
	s.waitDrained(t)

	// A rule on one product (by source id) next to the seeded ones: the
	// product most ordered by one user, at that count.
	var top [2]string
	best := 0
	for _, k := range sortedPairs(want.UserProducts) {
		if n := want.UserProducts[k]; n > best {
			top, best = k, n
		}
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO cdm.tag_rules (tag, product_id, threshold) VALUES ($1, $2, $3)`,
		"Фанат "+want.ProductNames[top[1]]+" #"+top[1][len(top[1])-4:], top[1], best); err != nil {
		t.Fatal(err)
	}
	rules := readRules(t, s.pool)

	t.Run("user_tags", func(t *testing.T) {
		exp := expectTags(want, rules)
		diff(t, "cdm.user_tags", userTags(t, s.pool), exp)
		if len(exp) == 0 {
			t.Fatal("the oracle expects no tag: the history does not exercise the rules")
		}
	})
	t.Run("bi views", func(t *testing.T) { checkBIViews(t, s.pool, want, rules) })

	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- Serve(sctx, cfg.DashboardAddr, cfg, s.pool, s.adm, testLogger()) }()
	base := "http://" + cfg.DashboardAddr
	waitServing(t, base, served)
	// A cleanup, not a defer: cleanups run last-registered first, so the
	// browser opened below closes its connections before the server stops.
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	t.Run("api", func(t *testing.T) {
		checkUsersAPI(t, base, want, rules)
		checkTopAPI(t, base, want)
		checkTagsAPI(t, base, want, rules)
	})

	// Pick a user exactly at a category tag's threshold (lowering that
	// rule's threshold with SQL if nobody is), and one of their closed
	// orders of the category: cancelling it must take the tag away.
	user, r := userAtThreshold(t, s.pool, want, rules)
	cancel := cancellation(t, w, msgs, user, *r.Category)
	rules = readRules(t, s.pool)
	t.Logf("user %s holds %q at exactly %d; order %d will be cancelled", user, r.Tag, r.Threshold, cancel.ObjectID)

	// Nothing moves while the page is checked: the schedule is paused and
	// the cancellation waits in the topic, so the lag chart shows it.
	s.pause(t)
	if err := simulator.Produce(ctx, s.kcl, cfg.Kafka.InputTopic, []simulator.Message{cancel}, nil); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 1400, 1000)
	t.Run("browser", func(t *testing.T) {
		checkPage(t, b, base, s)
		b.screenshot(t)
	})

	s.resume(t)
	s.waitDrained(t)
	want = w.Expect(append(slices.Clone(msgs), cancel))
	t.Run("after the cancellation", func(t *testing.T) {
		got := userTags(t, s.pool)
		if _, ok := got[[2]string{user, r.Tag}]; ok {
			t.Errorf("user %s still holds %q after the order was cancelled", user, r.Tag)
		}
		diff(t, "cdm.user_tags after the cancellation", got, expectTags(want, rules))
		var u User
		getJSON(t, base+"/api/users/"+user, &u)
		for _, tg := range u.Tags {
			if tg.Tag == r.Tag {
				t.Errorf("the API still gives %s the tag %q", user, r.Tag)
			}
		}
		checkBIViews(t, s.pool, want, rules)
		// The page shows a snapshot at most one refresh old: it follows
		// within a few seconds.
		wantHolders := strconv.Itoa(countTag(expectTags(want, rules), r.Tag))
		deadline := time.Now().Add(3 * pageStale)
		for {
			shown := ""
			for _, bar := range b.load(t, base+"/?refresh=0").Charts["tags"] {
				if bar.Label == r.Tag {
					shown = bar.Value
				}
			}
			if shown == wantHolders {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the page shows %s holders of %q, want %s", shown, r.Tag, wantHolders)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}

func countTag(tags map[[2]string]int, tag string) int {
	n := 0
	for k := range tags {
		if k[1] == tag {
			n++
		}
	}
	return n
}

// waitServing waits until the dashboard answers.
func waitServing(t *testing.T, base string, served <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-served:
			t.Fatalf("Serve returned early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/api/tags")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard does not answer at %s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkBIViews compares the bi views with the oracle.
func checkBIViews(t *testing.T, pool *pgxpool.Pool, want simulator.Expected, rules []rule) {
	t.Helper()
	ctx := context.Background()
	read := func(sql string) map[string]popularity {
		rows, _ := pool.Query(ctx, sql)
		got := map[string]popularity{}
		var name string
		var p popularity
		if _, err := pgx.ForEachRow(rows, []any{&name, &p.Users, &p.Orders, &p.UsersPct, &p.OrdersPct}, func() error {
			got[name] = p
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for view, exp := range map[string]map[string]popularity{
		`SELECT category_name, users, orders, users_pct::float8, orders_pct::float8 FROM bi.category_popularity`: expectCategories(want),
		`SELECT dish, users, orders, users_pct::float8, orders_pct::float8 FROM bi.dish_popularity`:              expectDishes(want),
	} {
		got := read(view)
		if len(got) != len(exp) || len(exp) == 0 {
			t.Errorf("%s: %d rows, want %d", view, len(got), len(exp))
		}
		for name, p := range exp {
			if got[name] != p {
				t.Errorf("%s: %s is %+v, want %+v", view, name, got[name], p)
			}
		}
	}
	holders := map[string]int64{}
	for k := range expectTags(want, rules) {
		holders[k[1]]++
	}
	rows, _ := pool.Query(ctx, `SELECT tag, users FROM bi.tag_counts`)
	var tag string
	var n int64
	seen := 0
	if _, err := pgx.ForEachRow(rows, []any{&tag, &n}, func() error {
		seen++
		if n != holders[tag] {
			t.Errorf("bi.tag_counts: %q has %d users, want %d", tag, n, holders[tag])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != len(rules) {
		t.Errorf("bi.tag_counts: %d rows, want one per rule (%d)", seen, len(rules))
	}
}

// userAtThreshold returns a user whose counter of a category rule is exactly
// the rule's threshold, setting that rule's threshold with SQL when nobody
// sits exactly on one.
func userAtThreshold(t *testing.T, pool *pgxpool.Pool, want simulator.Expected, rules []rule) (string, rule) {
	t.Helper()
	users := sortedKeys(want.Users)
	for _, r := range rules {
		if r.Category == nil {
			continue
		}
		for _, u := range users {
			if tagCounter(want, r, u) == r.Threshold {
				return u, r
			}
		}
	}
	for _, r := range rules {
		if r.Category == nil {
			continue
		}
		for _, u := range users {
			if n := tagCounter(want, r, u); n >= 2 {
				if _, err := pool.Exec(context.Background(), `UPDATE cdm.tag_rules SET threshold = $1 WHERE id = $2`, n, r.ID); err != nil {
					t.Fatal(err)
				}
				r.Threshold = n
				return u, r
			}
		}
	}
	t.Fatal("no user has 2 orders of any category: the history is too small")
	return "", rule{}
}

// cancellation returns a newer version, CANCELLED, of a closed order of user
// that holds a product of category.
func cancellation(t *testing.T, w *simulator.World, msgs []simulator.Message, user, category string) simulator.Message {
	t.Helper()
	cats := map[string]string{} // product id -> category
	for _, r := range w.Restaurants {
		for _, it := range r.Menu {
			cats[it.ID] = it.Category
		}
	}
	type version struct {
		ts  time.Time
		msg simulator.Message
		o   map[string]any
	}
	current := map[int64]version{}
	for _, m := range msgs {
		if m.WantReason != "" {
			continue
		}
		var o map[string]any
		dec := json.NewDecoder(bytes.NewReader(m.Value))
		dec.UseNumber()
		if err := dec.Decode(&o); err != nil {
			t.Fatal(err)
		}
		p := o["payload"].(map[string]any)
		ts, err := time.Parse(time.DateTime, p["update_ts"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := current[m.ObjectID]; !ok || !ts.Before(prev.ts) {
			current[m.ObjectID] = version{ts, m, o}
		}
	}
	ids := make([]int64, 0, len(current))
	for id := range current {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		v := current[id]
		p := v.o["payload"].(map[string]any)
		if p["user"].(map[string]any)["id"] != user || p["final_status"] != simulator.StatusClosed {
			continue
		}
		has := false
		for _, it := range p["order_items"].([]any) {
			has = has || cats[it.(map[string]any)["id"].(string)] == category
		}
		if !has {
			continue
		}
		ts := v.ts.Add(time.Minute).Format(time.DateTime)
		p["final_status"] = simulator.StatusCancelled
		p["update_ts"] = ts
		p["statuses"] = append([]any{map[string]any{"status": simulator.StatusCancelled, "dttm": ts}}, p["statuses"].([]any)...)
		v.o["sent_dttm"] = time.Now().UTC().Format(time.DateTime)
		b, err := json.Marshal(v.o)
		if err != nil {
			t.Fatal(err)
		}
		return simulator.Message{Value: b, Timestamp: time.Now(), Kind: simulator.KindStatusChange, ObjectID: id}
	}
	t.Fatalf("user %s has no closed order of %s", user, category)
	return simulator.Message{}
}

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
	rows, _ := s.pool.Query(ctx, query("page_categories"), MaxLimit)
	var r row
	var users, orders int64
	if _, err := pgx.ForEachRow(rows, []any{&r.by, &r.name, &users, &orders, &r.usersPct, &r.ordersPct, &totalUsers}, func() error {
		if r.by == "users" {
			charts["cat-users"] = append(charts["cat-users"], row{name: r.name, value: users, usersPct: r.usersPct})
		} else {
			charts["cat-orders"] = append(charts["cat-orders"], row{name: r.name, value: orders, usersPct: r.ordersPct})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, _ = s.pool.Query(ctx, query("page_dishes"), dishesShown)
	if _, err := pgx.ForEachRow(rows, []any{&r.by, &r.name, &users, &orders, &r.usersPct, &r.ordersPct}, func() error {
		if r.by == "users" {
			charts["dish-users"] = append(charts["dish-users"], row{name: r.name, value: users, usersPct: r.usersPct})
		} else {
			charts["dish-orders"] = append(charts["dish-orders"], row{name: r.name, value: orders, usersPct: r.ordersPct})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, _ = s.pool.Query(ctx, query("tag_counts"))
	var ruleID, threshold int
	var kind, target, label string
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
