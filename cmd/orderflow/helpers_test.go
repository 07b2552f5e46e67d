package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
)

// The command tests' services: testenv's, reached the way the commands
// reach them.

func TestMain(m *testing.M) { testenv.Main(m) }

// commandConfig is testenv.Config(t, partitions) changed by tune, and set
// in the environment, where run reads its configuration, for the rest of
// the test.
func commandConfig(t *testing.T, partitions int, tune func(*config.Config)) config.Config {
	t.Helper()
	cfg := testenv.Config(t, partitions)
	tune(&cfg)
	for _, kv := range cfg.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return cfg
}

// testTemporal dials cfg's Temporal server; closed when the test ends.
func testTemporal(t *testing.T, cfg config.Config) client.Client {
	t.Helper()
	tc, err := client.Dial(client.Options{HostPort: cfg.Temporal.Address})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc
}

// testKafka is a client of cfg's broker with opts; closed when the test ends.
func testKafka(t *testing.T, cfg config.Config, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kafkaio.NewClient(cfg.Kafka, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// migratedPool migrates the database dsn names and opens a pool on it;
// closed when the test ends.
func migratedPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	testenv.Migrate(t, dsn)
	pool, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
