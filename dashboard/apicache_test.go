package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
)

// TestAPIReadsOncePerURLAndGeneration: 50 clients asking for one URL at
// once cost one read; the next generation reads again; with the listener
// down nothing is kept.
func TestAPIReadsOncePerURLAndGeneration(t *testing.T) {
	s := &Server{now: time.Now}
	var reads atomic.Int32
	h := s.cached(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		time.Sleep(50 * time.Millisecond)
		writeJSON(w, http.StatusOK, map[string]int{"n": int(reads.Load())})
	})
	ask := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				h(rec, httptest.NewRequest("GET", "/api/tags", nil))
				if rec.Code != 200 || rec.Body.Len() == 0 {
					t.Errorf("answer %d %q", rec.Code, rec.Body.String())
				}
			})
		}
		wg.Wait()
	}
	s.api.setLive(true)
	ask(50)
	if n := reads.Load(); n != 1 {
		t.Fatalf("50 concurrent requests read %d times, want 1", n)
	}
	ask(10)
	if n := reads.Load(); n != 1 {
		t.Fatalf("kept answer not served: %d reads", n)
	}
	s.api.refreshed()
	ask(10)
	if n := reads.Load(); n != 2 {
		t.Fatalf("after a refresh: %d reads, want 2", n)
	}
	s.api.setLive(false)
	ask(3)
	if n := reads.Load(); n != 5 {
		t.Fatalf("listener down: %d reads, want 5 (every request reads)", n)
	}
}

// TestAPIAnswersFollowTheMartsRefresh: on a real warehouse, a kept answer
// outlives a change of the marts until UpsertCdm's signal arrives, then the
// next answer shows the change; the answers say when they were read.
func TestAPIAnswersFollowTheMartsRefresh(t *testing.T) {
	pool := migrated(t, testenv.Postgres(t))
	w := simulator.NewWorld(simulator.Options{Seed: 7, Users: 30, Restaurants: 8, End: time.Now().UTC()})
	want := fillFromOracle(t, pool, w, w.History(300))
	dash := New(defaultConfig(t), pool, nil, testLogger())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); dash.listenRefreshes(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for _, live := dash.api.current(); !live; _, live = dash.api.current() {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv := httptest.NewServer(dash)
	defer srv.Close()

	user := sortedKeys(want.Users)[0]
	total := func() (int, http.Header) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/users/" + user)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var u User
		if code := getJSON(t, srv.URL+"/api/users/"+user, &u); code != 200 {
			t.Fatalf("user %s: %d", user, code)
		}
		n := 0
		for _, c := range u.Categories {
			n += c.OrderCnt
		}
		return n, resp.Header
	}
	before, hdr := total()
	if hdr.Get("X-Orderflow-Read-At") == "" || hdr.Get("Age") == "" {
		t.Errorf("answer without X-Orderflow-Read-At/Age: %v", hdr)
	}
	if _, err := pool.Exec(ctx, `UPDATE cdm.user_category_counters SET order_cnt = order_cnt + 1000
		WHERE user_id = (SELECT h_user_pk FROM dds.h_user WHERE user_id = $1)`, user); err != nil {
		t.Fatal(err)
	}
	if got, _ := total(); got != before {
		t.Fatalf("answer changed before the refresh signal: %d, kept %d", got, before)
	}
	if _, err := pool.Exec(ctx, "SELECT pg_notify($1, 'test')", db.MartsRefreshed); err != nil {
		t.Fatal(err)
	}
	for {
		got, _ := total()
		if got > before {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("the refresh signal did not reach the API: still %d", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
