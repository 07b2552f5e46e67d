package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/simulator"
)

// TestHubRefusalLeavesNoOrphans: the vault has no FOREIGN KEYs (migration
// 014), so nothing but the load order keeps a link or satellite from naming
// a hub that never committed. A CHECK constraint an operator added to
// dds.h_user refuses one user: every order of that user fails inside
// LoadDdsVault, the safety net sets those records aside as poison and loads
// the rest, and `orderflow verify` must find no orphan (no link or
// satellite of the refused orders left behind), the marts equal to the
// oracle without them.
func TestHubRefusalLeavesNoOrphans(t *testing.T) {
	cfg := faultConfig(t, 1)
	w := simulator.NewWorld(simulator.Options{Seed: time.Now().UnixNano(), Users: 300, Restaurants: 3, End: time.Now().UTC()})
	msgs := w.History(400)
	victim, refused := singleVersionUser(t, msgs)
	t.Logf("dds.h_user refuses user %s: %d orders", victim, len(refused))

	s := startStack(t, cfg)
	if _, err := s.pool.Exec(context.Background(),
		`ALTER TABLE dds.h_user ADD CONSTRAINT e2e_refuse_user CHECK (user_id <> '`+victim+`')`); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveRefData(context.Background(), s.rdb); err != nil {
		t.Fatal(err)
	}
	produce(t, s.kcl, cfg.Kafka.InputTopic, msgs)
	s.schedule(t)
	s.waitDrained(t, 3*time.Minute)

	var rest []simulator.Message
	for i, m := range msgs {
		if !refused[i] {
			rest = append(rest, m)
		}
	}
	want := w.Expect(rest)
	checkMarts(t, s, want)
	checkVerify(t, s)
	checkNoRunFailed(t, s)
	checkNoWorkingRows(t, s)
	var poison int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM stg.rejected_messages WHERE reason = 'poison'`).Scan(&poison); err != nil {
		t.Fatal(err)
	}
	if poison != len(refused) {
		t.Errorf("%d records stored as poison, want the refused user's %d", poison, len(refused))
	}
}

// singleVersionUser picks a user all of whose orders are loadable and have
// one message each, and returns the indexes of those messages.
func singleVersionUser(t *testing.T, msgs []simulator.Message) (string, map[int]bool) {
	t.Helper()
	type order struct {
		ObjectID int64 `json:"object_id"`
		Payload  struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"payload"`
	}
	versions := map[int64]int{}
	byUser := map[string][]int{}
	bad := map[string]bool{}
	for i, m := range msgs {
		versions[m.ObjectID]++
		var o order
		if m.Tombstone || json.Unmarshal(m.Value, &o) != nil || o.Payload.User.ID == "" {
			continue
		}
		if m.WantReason != "" {
			bad[o.Payload.User.ID] = true
		}
		byUser[o.Payload.User.ID] = append(byUser[o.Payload.User.ID], i)
	}
	for _, u := range slices.Sorted(maps.Keys(byUser)) {
		ok := !bad[u]
		for _, i := range byUser[u] {
			ok = ok && versions[msgs[i].ObjectID] == 1
		}
		if ok {
			refused := map[int]bool{}
			for _, i := range byUser[u] {
				refused[i] = true
			}
			return u, refused
		}
	}
	t.Fatal("no user whose orders all have one message")
	return "", nil
}
