package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
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
func (s *stack) waitDrained(t *testing.T) {
	t.Helper()
	pipeline.Drained(t, s.cfg, s.pool, s.adm, 3*time.Minute)
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
		checkUsersAPI(t, base, want, rules, func(id string) string { return explainUser(s.pool, id) })
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

// explainUser says what the warehouse holds of a user the API did not
// find: their hub row, the orders stg.order_events keeps for them, and the
// rejected messages that name them.
func explainUser(pool *pgxpool.Pool, id string) string {
	ctx := context.Background()
	var hub, orders, rejected int
	var objects []int64
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM dds.h_user WHERE user_id = $1),
		(SELECT count(*) FROM stg.order_events WHERE payload->'user'->>'id' = $1),
		(SELECT coalesce(array_agg(object_id), '{}') FROM stg.order_events WHERE payload->'user'->>'id' = $1),
		(SELECT count(*) FROM stg.rejected_messages WHERE position(convert_to($1, 'UTF8') IN raw) > 0)`, id).Scan(&hub, &orders, &objects, &rejected)
	if err != nil {
		return "explain: " + err.Error()
	}
	return fmt.Sprintf("warehouse: %d h_user rows, %d orders in stg.order_events %v, %d rejected messages name them", hub, orders, objects, rejected)
}
