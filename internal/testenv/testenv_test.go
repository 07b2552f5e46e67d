package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
)

func TestMain(m *testing.M) { Main(m) }

func TestPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var name string
	if !t.Run("inner", func(t *testing.T) {
		dsn := Postgres(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to %s: %v", dsn, err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "orderflow_t_") {
			t.Errorf("database %q, want orderflow_t_…", name)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		// The connection stays open: the drop must force it closed.
	}) {
		return
	}
	admin, err := pgx.Connect(ctx, envOr("ORDERFLOW_TEST_PG_DSN", defaultPGDSN))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after the test", name)
	}
}

// TestMigratedPostgres: the database has orderflow's schema, and a PoolAs
// pool acts as the role it names.
func TestMigratedPostgres(t *testing.T) {
	ctx := context.Background()
	dsn, pool := MigratedPostgres(t)
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('stg', 'dds', 'cdm')`).Scan(&tables); err != nil || tables == 0 {
		t.Fatalf("%d tables in stg, dds, cdm (%v); want the migrated schema", tables, err)
	}
	var role string
	if err := PoolAs(t, dsn, "orderflow_stg").QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil || role != "orderflow_stg" {
		t.Errorf("PoolAs(orderflow_stg): current_user %q, %v", role, err)
	}
}

func TestRedis(t *testing.T) {
	c := Redis(t)
	ctx := context.Background()
	key := "testenv:" + UniqueSuffix(t)
	if err := c.Set(ctx, key, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Del(ctx, key)
	if got, err := c.Get(ctx, key).Result(); err != nil || got != "v" {
		t.Errorf("GET %s = %q, %v", key, got, err)
	}
}

func TestKafka(t *testing.T) {
	brokers := Kafka(t, 3, "in", "out")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no record before the deadline")
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs)
		}
		if recs := fetches.Records(); len(recs) > 0 {
			if string(recs[0].Value) != "hello" {
				t.Errorf("consumed %q, want hello", recs[0].Value)
			}
			if recs[0].Partition < 0 || recs[0].Partition > 2 {
				t.Errorf("partition %d, want 0-2", recs[0].Partition)
			}
			return
		}
	}
}

func TestTemporal(t *testing.T) {
	addr := Temporal(t)
	if again := Temporal(t); again != addr {
		t.Errorf("second Temporal() = %s, want the shared %s", again, addr)
	}
	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Errorf("health check: %v", err)
	}
}

func TestConfig(t *testing.T) {
	a := Config(t, 2)
	b := Config(t, 1)
	if a.Kafka.InputTopic == b.Kafka.InputTopic || a.Kafka.Group == b.Kafka.Group ||
		a.Temporal.TaskQueuePrefix == b.Temporal.TaskQueuePrefix || a.Pipeline.ScheduleID == b.Pipeline.ScheduleID ||
		a.PGDSN == b.PGDSN {
		t.Errorf("two configs share names: %+v / %+v", a, b)
	}
	if a.Temporal.Address != b.Temporal.Address {
		t.Errorf("Temporal addresses differ: %s, %s", a.Temporal.Address, b.Temporal.Address)
	}
	if a.Kafka.Partitions != 2 || len(a.Kafka.Brokers) != 1 {
		t.Errorf("Kafka = %+v", a.Kafka)
	}
	if !strings.HasPrefix(a.Kafka.InputTopic, "order-service_orders-testconfig-") {
		t.Errorf("input topic %q", a.Kafka.InputTopic)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range []string{a.Kafka.InputTopic, a.Kafka.StgTopic, a.Kafka.DdsTopic} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
			t.Errorf("produce to %s: %v", topic, err)
		}
	}
}

func TestUniqueSuffix(t *testing.T) {
	t.Run("Weird name/with ÄÖ & stuff!!", func(t *testing.T) {
		s := UniqueSuffix(t)
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				t.Fatalf("UniqueSuffix() = %q has %q", s, r)
			}
		}
		if !strings.HasPrefix(s, "testuniquesuffix-weird-name-with-stuff-") {
			t.Errorf("UniqueSuffix() = %q", s)
		}
	})
}

func TestFreePort(t *testing.T) {
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort() = %d", p)
	}
}
