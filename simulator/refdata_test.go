package simulator

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/refdata"
)

func TestSaveRefDataRedis(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.Redis(t)
	// A seed from the clock gives ids no other test run uses.
	w := NewWorld(Options{Seed: time.Now().UnixNano(), Users: 50, Restaurants: 3, End: time.Now()})
	saved := refKeys(w)
	absent := append([]string{w.missing.ID}, w.unknownUsers...)
	all := append(slices.Clone(saved), absent...)
	if n, err := rdb.Exists(ctx, all...).Result(); err != nil || n != 0 {
		t.Fatalf("keys already in Redis: %d, %v", n, err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), all...) })

	if err := w.SaveRefData(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	snap, err := refdata.NewStore(rdb).Lookup(ctx, append(slices.Clone(saved[:len(w.Users)]), w.unknownUsers...),
		append(slices.Clone(saved[len(w.Users):]), w.missing.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Broken) != 0 {
		t.Fatalf("broken values: %v", snap.Broken)
	}
	for _, u := range w.Users {
		if !reflect.DeepEqual(snap.Users[u.ID], u) {
			t.Fatalf("user %s: got %+v, want %+v", u.ID, snap.Users[u.ID], u)
		}
	}
	for _, r := range w.Restaurants {
		if !reflect.DeepEqual(snap.Restaurants[r.ID], r) {
			t.Fatalf("restaurant %s differs after the round trip", r.ID)
		}
	}
	if n, err := rdb.Exists(ctx, absent...).Result(); err != nil || n != 0 {
		t.Fatalf("%d of the missing restaurant and unknown users are in Redis (%v)", n, err)
	}
	if len(snap.Users) != len(w.Users) || len(snap.Restaurants) != len(w.Restaurants) {
		t.Fatalf("lookup found %d users, %d restaurants", len(snap.Users), len(snap.Restaurants))
	}
}
