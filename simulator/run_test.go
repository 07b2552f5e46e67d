package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/testenv"
)

// fakeKafka starts an in-process broker with a one-partition topic and
// returns a producing client.
func fakeKafka(t *testing.T, topic string) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	return fakeKafkaParts(t, topic, 1)
}

// consumeAll reads topic from the start until want records arrived or ctx ends.
func consumeAll(ctx context.Context, t *testing.T, c *kfake.Cluster, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	return recs
}

func TestProduce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, cl := fakeKafka(t, "orders")
	msgs := newTestWorld(8).History(6000)
	var progress []int
	if err := Produce(ctx, cl, "orders", msgs, func(done int) { progress = append(progress, done) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(progress, []int{5000, len(msgs)}) {
		t.Errorf("progress calls %v, want [5000 %d]", progress, len(msgs))
	}
	recs := consumeAll(ctx, t, c, "orders", len(msgs))
	if len(recs) != len(msgs) {
		t.Fatalf("consumed %d records, produced %d", len(recs), len(msgs))
	}
	for i, r := range recs {
		if !bytes.Equal(r.Value, msgs[i].Value) || !r.Timestamp.Equal(msgs[i].Timestamp) || r.Key != nil {
			t.Fatalf("record %d: value/timestamp/key differ (ts %v, want %v)", i, r.Timestamp, msgs[i].Timestamp)
		}
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	c, cl := fakeKafka(t, "orders")
	w := NewWorld(Options{Seed: time.Now().UnixNano(), Users: 40, Restaurants: 2, End: time.Now()})
	keys := refKeys(w)
	rdb := testRedis(t, w)

	runCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := Run(runCtx, w, rdb, cl, "orders", 300, 600, log); err != nil {
		t.Fatalf("Run returned %v on cancel, want nil", err)
	}
	if n, err := rdb.Exists(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
		t.Fatalf("%d of %d reference keys in Redis (%v)", n, len(keys), err)
	}
	readCtx, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	recs := consumeAll(readCtx, t, c, "orders", 1<<30)
	if len(recs) < 300+5 {
		t.Fatalf("%d records after 2s of Run, want the history (300+) and ~20 live orders", len(recs))
	}
	t.Logf("Run produced %d records", len(recs))
}

// fakeKafkaParts is fakeKafka with a topic of several partitions.
func fakeKafkaParts(t *testing.T, topic string, partitions int32) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

// testRedis connects to the test Redis (testenv.Redis) and deletes the
// worlds' reference keys at the end.
func testRedis(t *testing.T, worlds ...*World) *redis.Client {
	t.Helper()
	rdb := testenv.Redis(t)
	var keys []string
	for _, w := range worlds {
		keys = append(keys, refKeys(w)...)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), keys...) })
	return rdb
}

func refKeys(w *World) []string {
	var keys []string
	for _, u := range w.Users {
		keys = append(keys, u.ID)
	}
	for _, r := range w.Restaurants {
		keys = append(keys, r.ID)
	}
	return keys
}

// runFor runs Run until d after it starts the live orders (at most a minute
// in all) and fails on an error.
func runFor(t *testing.T, d time.Duration, w *World, rdb redis.UniversalClient, cl *kgo.Client, history int, perMinute float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &onMessage{Handler: slog.NewTextHandler(io.Discard, nil), msg: "simulator: producing live orders",
		do: func() { time.AfterFunc(d, cancel) }}
	if err := Run(ctx, w, rdb, cl, "orders", history, perMinute, slog.New(h)); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// onMessage calls do once a record with message msg is logged.
type onMessage struct {
	slog.Handler
	msg  string
	do   func()
	once sync.Once
}

func (h *onMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(h.do)
	}
	return h.Handler.Handle(ctx, r)
}

// readAll reads every record of the topic (waiting up to 2s).
func readAll(t *testing.T, c *kfake.Cluster) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return consumeAll(ctx, t, c, "orders", 1<<30)
}

// TestRunRestart: a simulator restarted on a topic it wrote to, even with
// other settings and another clock, keeps the first world's reference data,
// does not send the history again, and never sends an object_id again with
// other owners.
func TestRunRestart(t *testing.T) {
	seed := time.Now().UnixNano()
	end := time.Now().Add(-time.Hour)
	first := NewWorld(Options{Seed: seed, Users: 40, Restaurants: 3, End: end})
	// As after editing the settings: another seed, other counts, later.
	second := NewWorld(Options{Seed: seed + 1, Users: 50, Restaurants: 4, End: end.Add(3 * time.Hour)})
	secondKeys := refKeys(second)
	rdb := testRedis(t, first, second)
	c, cl := fakeKafkaParts(t, "orders", 3)

	runFor(t, 1500*time.Millisecond, first, rdb, cl, 300, 3000)
	before := readAll(t, c)
	if len(before) < 300 {
		t.Fatalf("%d records after the first run", len(before))
	}
	runFor(t, 2*time.Second, second, rdb, cl, 300, 3000)
	all := readAll(t, c)

	ref := NewWorld(Options{Seed: seed, Users: 40, Restaurants: 3, End: end})
	if !reflect.DeepEqual(second.Users, ref.Users) || !reflect.DeepEqual(second.Restaurants, ref.Restaurants) {
		t.Fatal("the restarted simulator does not use the world of the first run")
	}
	if n, err := rdb.Exists(context.Background(), secondKeys...).Result(); err != nil || n != 0 {
		t.Fatalf("%d reference keys of the new settings' world are in Redis (%v)", n, err)
	}

	type current struct {
		ts     time.Time
		owners string
	}
	cur := map[int64]current{}
	var maxID int64
	seen := map[[2]int64]bool{}
	for _, r := range before {
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
		checkStateHeader(t, r)
		d, err := checkOrder(ref, r.Value)
		if err != nil {
			continue // a rejected message of the history
		}
		maxID = max(maxID, d.id)
		if c, ok := cur[d.id]; !ok || !d.updateTS.Before(c.ts) {
			cur[d.id] = current{d.updateTS, owners(d)}
		}
	}
	after, reused := 0, 0
	for _, r := range all {
		if seen[[2]int64{int64(r.Partition), r.Offset}] {
			continue
		}
		after++
		checkStateHeader(t, r)
		d, err := checkOrder(ref, r.Value)
		if err != nil {
			t.Fatalf("record after the restart: %v\n%s", err, r.Value)
		}
		c, ok := cur[d.id]
		if !ok {
			if d.id <= maxID {
				t.Fatalf("new order %d after the restart, not above %d", d.id, maxID)
			}
			continue
		}
		reused++
		if owners(d) != c.owners || !d.updateTS.After(c.ts) {
			t.Fatalf("order %d sent again after the restart: %s at %v, was %s at %v", d.id, owners(d), d.updateTS, c.owners, c.ts)
		}
	}
	if after == 0 || after >= 300 {
		t.Fatalf("%d records after the restart: want live orders only", after)
	}
	if reused == 0 {
		t.Error("no status change of an order of the first run after the restart")
	}
	t.Logf("first run %d records; after the restart %d, %d of them new versions of earlier orders", len(before), after, reused)
}

func checkStateHeader(t *testing.T, r *kgo.Record) {
	t.Helper()
	for _, h := range r.Headers {
		if h.Key == StateHeader {
			if _, ok := parseState(h.Value); !ok {
				t.Fatalf("bad state header %q", h.Value)
			}
			return
		}
	}
	t.Fatalf("record %d/%d has no state header", r.Partition, r.Offset)
}

// TestRunResumesHistory: a history cut short is completed, not restarted.
func TestRunResumesHistory(t *testing.T) {
	opts := Options{Seed: time.Now().UnixNano(), Users: 40, Restaurants: 3, End: time.Now().Add(-time.Hour)}
	w := NewWorld(opts)
	rdb := testRedis(t, w)
	c, cl := fakeKafkaParts(t, "orders", 2)
	hist := w.History(300)
	st := w.state(300, historySum(hist))
	st.Next = w.nextID
	err := produce(context.Background(), cl, "orders", hist[:120], nil, func(i int) []kgo.RecordHeader {
		st.Done = i + 1
		return []kgo.RecordHeader{st.header()}
	})
	if err != nil {
		t.Fatal(err)
	}
	later := opts
	later.End = later.End.Add(time.Hour)
	runFor(t, 10*time.Second, NewWorld(later), rdb, cl, 300, 0)
	var got, want []string
	for _, r := range readAll(t, c) {
		got = append(got, string(r.Value))
	}
	for _, m := range hist {
		want = append(want, string(m.Value))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("topic holds %d records, want the %d of the history once each", len(got), len(want))
	}
}

// TestRunForeignTopic: records without the simulator's state (an older
// simulator, another producer): no history, and new object_ids only.
func TestRunForeignTopic(t *testing.T) {
	w := NewWorld(Options{Seed: time.Now().UnixNano(), Users: 40, Restaurants: 3, End: time.Now()})
	rdb := testRedis(t, w)
	c, cl := fakeKafkaParts(t, "orders", 2)
	const foreign = 5_000_000
	old := []Message{{Value: []byte(`{"object_id": 4999999, "object_type": "order"}`)}, {Value: []byte("garbage")},
		{Value: fmt.Appendf(nil, `{"object_id": %d, "object_type": "order"}`, foreign)}, {Tombstone: true}}
	if err := Produce(context.Background(), cl, "orders", old, nil); err != nil {
		t.Fatal(err)
	}
	runFor(t, 1500*time.Millisecond, w, rdb, cl, 300, 3000)
	recs := readAll(t, c)
	if len(recs)-len(old) >= 300 || len(recs) == len(old) {
		t.Fatalf("%d records after Run: want a few live orders and no history", len(recs)-len(old))
	}
	for _, r := range recs {
		if len(r.Headers) == 0 {
			continue
		}
		d, err := checkOrder(w, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if d.id <= foreign {
			t.Fatalf("object_id %d re-used", d.id)
		}
	}
}
