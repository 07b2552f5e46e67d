package devstack

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
)

func TestBrokerPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const topic = "orders"
	c, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0", DataDir: dir, Partitions: 2, Topics: []string{topic}, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "127.0.0.1:") || strings.HasSuffix(addrs[0], ":0") {
		c.Close()
		t.Fatalf("ListenAddrs() = %v, want one 127.0.0.1:<port>", addrs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	var records []*kgo.Record
	for i := range 10 {
		records = append(records, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("order %d", i))})
	}
	err = producer.ProduceSync(ctx, records...).FirstErr()
	producer.Close()
	c.Close()
	if err != nil {
		t.Fatalf("produce: %v", err)
	}

	// Restart on the same folder, on another port, asking for one more topic.
	c, err = StartBroker(BrokerOptions{Addr: "127.0.0.1:0", DataDir: dir, Partitions: 2, Topics: []string{topic, "added"}})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer c.Close()
	if c.TopicInfo("added") == nil {
		t.Error("topic added on restart was not created")
	}
	if n := len(c.PartitionInfos(topic)); n != 2 {
		t.Errorf("topic %s has %d partitions after restart, want 2", topic, n)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := map[string]string{}
	for len(got) < 10 {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 10 records before the deadline", len(got))
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs)
		}
		fetches.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
	}
	for i := range 10 {
		if want := fmt.Sprintf("order %d", i); got[fmt.Sprint(i)] != want {
			t.Errorf("record %d = %q, want %q", i, got[fmt.Sprint(i)], want)
		}
	}
}

func TestBrokerAddress(t *testing.T) {
	if _, err := StartBroker(BrokerOptions{Addr: "0.0.0.0:0"}); err == nil {
		t.Error("StartBroker on 0.0.0.0 succeeded, want an error")
	}
	if _, err := StartBroker(BrokerOptions{Addr: "nonsense"}); err == nil {
		t.Error("StartBroker on a malformed address succeeded, want an error")
	}
	c, err := StartBroker(BrokerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	busy := c.ListenAddrs()[0]
	if _, err := StartBroker(BrokerOptions{Addr: busy}); err == nil || !strings.Contains(err.Error(), busy) {
		t.Errorf("StartBroker on a busy port: err = %v, want one naming %s", err, busy)
	}
}

func TestTemporalServer(t *testing.T) {
	bin, err := TemporalBin()
	if err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(t.TempDir(), "sub", "temporal.db")
	s, err := StartTemporal(context.Background(), TemporalOptions{Bin: bin, DBFile: dbFile})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = s.Stop()
		}
	}()

	c, err := client.Dial(client.Options{HostPort: s.Addr()})
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Errorf("health check: %v", err)
	}
	c.Close()
	if !strings.HasPrefix(s.UIURL(), "http://127.0.0.1:") {
		t.Errorf("UIURL() = %q", s.UIURL())
	}
	if _, err := os.Stat(dbFile); err != nil {
		t.Errorf("database file: %v", err)
	}

	start := time.Now()
	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	stopped = true
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	select {
	case <-s.Done():
	default:
		t.Error("Done() is open after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", s.Addr())
	}
}

func TestStartTemporalReportsOutput(t *testing.T) {
	// /bin/sh is not a Temporal CLI: it exits at once complaining about the
	// arguments, and the error must quote what it printed.
	_, err := StartTemporal(context.Background(), TemporalOptions{Bin: "/bin/sh", Port: 1, UIPort: 2})
	if err == nil {
		t.Fatal("StartTemporal with /bin/sh succeeded")
	}
	if !strings.Contains(err.Error(), "exited while starting") || !strings.Contains(err.Error(), "last output") {
		t.Errorf("error does not explain the failure: %v", err)
	}
}

func TestFindRepoRoot(t *testing.T) {
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "devstack", "temporal.go")); err != nil {
		t.Errorf("FindRepoRoot() = %s, which does not hold devstack/: %v", root, err)
	}
}

func TestTemporalBinMissing(t *testing.T) {
	t.Setenv("ORDERFLOW_TEMPORAL_BIN", filepath.Join(t.TempDir(), "temporal"))
	_, err := TemporalBin()
	if err == nil || !strings.Contains(err.Error(), "make bin/temporal") {
		t.Errorf("TemporalBin() error = %v, want one telling to run make bin/temporal", err)
	}
}
