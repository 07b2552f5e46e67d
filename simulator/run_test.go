package simulator

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeKafka starts an in-process broker with a one-partition topic and
// returns a producing client.
func fakeKafka(t *testing.T, topic string) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
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
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("this test needs Redis at 127.0.0.1:6379 (start redis-server): %v", err)
	}
	c, cl := fakeKafka(t, "orders")
	w := NewWorld(Options{Seed: time.Now().UnixNano(), Users: 40, Restaurants: 2, End: time.Now()})
	var keys []string
	for _, u := range w.Users {
		keys = append(keys, u.ID)
	}
	for _, r := range w.Restaurants {
		keys = append(keys, r.ID)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), keys...) })

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
