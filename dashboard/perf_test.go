package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
)

// TestFastOn50kOrders: on a warehouse the size of the demo's week (50,000
// orders, 3,000 users), the page and every API endpoint answer in < 100 ms.
// The check uses the best of several tries, so a busy machine (the other
// packages' tests run meanwhile) does not fail it; the median is logged. The
// page is served from its snapshot (cache.go); a read of every chart, which
// the first request after a quiet spell waits for, is timed on its own.
func TestFastOn50kOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50,000-order warehouse")
	}
	ctx := context.Background()
	cfg := testenv.Config(t, 2)
	pool := migrated(t, cfg.PGDSN)
	w := simulator.NewWorld(simulator.Options{Seed: 42, Users: 3000, Restaurants: 8, End: time.Now().UTC()})
	start := time.Now()
	msgs := w.History(50000)
	want := fillFromOracle(t, pool, w, msgs)
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	t.Logf("warehouse of %d orders, %d users, %d product and %d category counters built in %s",
		want.Orders, len(want.Users), len(want.UserProducts), len(want.UserCategories), time.Since(start).Round(time.Millisecond))

	cl, err := kafkaio.NewClient(cfg.Kafka, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.Kafka.InputTopic, Partition: int32(i % 2), Value: []byte("{}")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	dash := New(cfg, pool, kafkaio.Admin(cl), testLogger())
	srv := httptest.NewServer(dash)
	defer srv.Close()

	// What the page waits for when it has no recent snapshot: every chart's
	// SQL and the lag. A bound well above the target: it must not grow
	// with the machine's load, only catch a plan gone wrong.
	var reads []time.Duration
	for range 6 {
		t0 := time.Now()
		if _, err := dash.collect(ctx); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, time.Since(t0))
	}
	slices.Sort(reads)
	t.Logf("a read of every chart: best %.1f ms, median %.1f ms", ms(reads[0]), ms(reads[len(reads)/2]))
	if reads[0] > 500*time.Millisecond {
		t.Errorf("a read of every chart takes %s at best", reads[0])
	}

	some := sortedKeys(want.Users)[len(want.Users)/2]
	for _, path := range []string{
		"/",
		"/api/users/" + some,
		"/api/users/" + some + "?limit=100",
		"/api/top/products?by=orders",
		"/api/top/products?by=users&limit=100&offset=100",
		"/api/top/categories?by=users",
		"/api/tags",
	} {
		var took []time.Duration
		for i := range 8 {
			t0 := time.Now()
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			if i > 0 { // the first request warms the connection and the plan cache
				took = append(took, time.Since(t0))
			}
		}
		slices.Sort(took)
		t.Logf("GET %-52s best %6.1f ms, median %6.1f ms", path, ms(took[0]), ms(took[len(took)/2]))
		if took[0] > 100*time.Millisecond {
			t.Errorf("GET %s: %s at best, want < 100 ms", path, took[0])
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
