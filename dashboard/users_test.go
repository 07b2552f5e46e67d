package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
)

// TestUsersSnapshotEqualsReadingEachUser: on a real warehouse, every user's
// answer from the snapshot (all users in four statements) is the answer of
// reading that user alone, for several pages; many requests in one
// generation read the snapshot once; an unknown id is not found.
func TestUsersSnapshotEqualsReadingEachUser(t *testing.T) {
	pool := migrated(t, testenv.Postgres(t))
	w := simulator.NewWorld(simulator.Options{Seed: 11, Users: 40, Restaurants: 8, End: time.Now().UTC()})
	want := fillFromOracle(t, pool, w, w.History(600))
	dash := New(defaultConfig(t), pool, nil, testLogger())
	ctx := context.Background()

	dash.api.setLive(true) // as when the listener is connected
	reads := dash.users.taken.Load()
	pages := [][2]int{{DefaultLimit, 0}, {1, 0}, {3, 2}, {5, 1000}}
	for _, id := range sortedKeys(want.Users) {
		for _, pg := range pages {
			alone, found, err := dash.readUser(ctx, id, pg[0], pg[1])
			if err != nil {
				t.Fatal(err)
			}
			su, _, ok, err := dash.snapshotUser(id)
			if err != nil || !ok {
				t.Fatalf("snapshot of %s: ok %v, err %v", id, ok, err)
			}
			if !found {
				if su != nil {
					t.Errorf("user %s: not found alone, but in the snapshot", id)
				}
				continue
			}
			if su == nil {
				t.Fatalf("user %s: found alone, not in the snapshot", id)
			}
			a, _ := json.Marshal(alone)
			b, _ := json.Marshal(su.page(pg[0], pg[1]))
			if string(a) != string(b) {
				t.Errorf("user %s limit %d offset %d:\nalone    %s\nsnapshot %s", id, pg[0], pg[1], a, b)
			}
		}
	}
	if su, _, ok, err := dash.snapshotUser("ffffffffffffffffffffffff"); err != nil || !ok || su != nil {
		t.Errorf("unknown user: %v %v %v", su, ok, err)
	}
	// A user who arrives after the snapshot was read is not in it; the
	// handler then reads the user alone and does not answer 404.
	late := "aaaaaaaaaaaaaaaaaaaaaaaa"
	if _, err := pool.Exec(ctx, `INSERT INTO dds.h_user (h_user_pk, user_id, load_dt, load_src) VALUES ($1, $2, now(), 'test')`, key(late), late); err != nil {
		t.Fatal(err)
	}
	if su, _, _, _ := dash.snapshotUser(late); su != nil {
		t.Fatal("the snapshot saw a user inserted after it was read")
	}
	rec := httptest.NewRecorder()
	dash.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/users/"+late, nil))
	if rec.Code != http.StatusOK {
		t.Errorf("a user newer than the snapshot: %d %s", rec.Code, rec.Body)
	}
	if got := dash.users.taken.Load() - reads; got != 1 {
		t.Errorf("%d snapshot reads in one generation, want 1", got)
	}
	dash.api.refreshed()
	if _, _, _, err := dash.snapshotUser(sortedKeys(want.Users)[0]); err != nil {
		t.Fatal(err)
	}
	if got := dash.users.taken.Load() - reads; got != 2 {
		t.Errorf("%d snapshot reads after a refresh, want 2", got)
	}

	dash.api.setLive(false) // no listener: nothing is kept, each id is read alone
	if _, _, ok, _ := dash.snapshotUser(sortedKeys(want.Users)[0]); ok {
		t.Error("the snapshot served while answers may not be kept")
	}
}
