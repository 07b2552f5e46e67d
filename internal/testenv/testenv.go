// Package testenv gives integration tests real backing services, isolated per
// test: a fresh PostgreSQL database, a Redis client, an in-process Kafka
// broker with the test's topics, and a Temporal dev server shared by the test
// binary. PostgreSQL and Redis must already run (scripts/ensure-services.sh,
// or `make services`); the Temporal dev server needs bin/temporal
// (`make bin/temporal`).
//
// Stack (NewStack) and WorkerProc (StartWorker) return errors rather than
// take a testing.TB, so that programs (the bench) share them; Config and
// Worker are their test helpers. Package pipeline adds in-process workers
// and drain waits for whole-pipeline tests.
//
// A package that uses Temporal must call Main from its TestMain so the shared
// server stops when the tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Environment:
//
//	ORDERFLOW_TEST_PG_DSN          server for per-test databases (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
//	ORDERFLOW_TEST_REDIS_ADDR      Redis (default 127.0.0.1:6379)
//	ORDERFLOW_TEST_TEMPORAL_ADDR   use this Temporal frontend instead of starting a dev server
//	ORDERFLOW_TEST_TEMPORAL_LOG=1  copy the dev server's output to stderr
//	ORDERFLOW_TEMPORAL_BIN         the Temporal CLI (default <repo>/bin/temporal)
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/devstack"
)

const (
	defaultPGDSN     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedisAddr = "127.0.0.1:6379"
	servicesHint     = "start it with scripts/ensure-services.sh (or `make services`)"
)

// Main runs the package's tests, stops the shared Temporal dev server if one
// was started, and exits with the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := stopTemporal(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
	}
	os.Exit(code)
}

// Postgres creates a fresh database orderflow_t_<random hex> on the server
// named by $ORDERFLOW_TEST_PG_DSN and returns its DSN. The database is
// dropped (WITH (FORCE)) when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := envOr("ORDERFLOW_TEST_PG_DSN", defaultPGDSN)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, name, err := createDatabase(ctx, admin, "orderflow_t_")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, admin, name); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return dsn
}

// createDatabase creates a database prefix<random hex> on the server admin
// names and returns its DSN and name.
func createDatabase(ctx context.Context, admin, prefix string) (dsn, name string, err error) {
	name = prefix + randomHex(8)
	if dsn, err = withDatabase(admin, name); err != nil {
		return "", "", fmt.Errorf("PostgreSQL DSN %s: %w", redactDSN(admin), err)
	}
	if err := adminExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	return dsn, name, nil
}

// dropDatabase drops database name (WITH (FORCE)).
func dropDatabase(ctx context.Context, admin, name string) error {
	if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// adminExec runs one statement on the server's maintenance database.
func adminExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s is unreachable: %w\n%s", redactDSN(admin), err, servicesHint)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Migrate applies orderflow's migrations to the database dsn names, as
// `orderflow migrate` (the setup Job) does before any worker starts:
// workers only check the schema.
func Migrate(t testing.TB, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
}

// MigratedPostgres is Postgres then Migrate: a fresh database with
// orderflow's schema, its DSN and a pool of the login user (the owner, with
// every privilege), closed when the test ends.
func MigratedPostgres(t testing.TB) (dsn string, pool *pgxpool.Pool) {
	t.Helper()
	dsn = Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	return dsn, pool
}

// PoolAs returns a pool on the database dsn names whose connections act as
// role (db.OpenAs; e.g. db.Role("stg")), closed when the test ends.
func PoolAs(t testing.TB, dsn, role string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := db.OpenAs(ctx, dsn, role)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Redis returns a client to $ORDERFLOW_TEST_REDIS_ADDR (default
// 127.0.0.1:6379), already pinged, closed when the test ends. Tests share the
// server: keep keys apart with ids unique to the test.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	addr := redisAddr()
	c := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testenv: Redis at %s is unreachable: %v\n%s", addr, err, servicesHint)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Kafka starts an in-process Kafka broker (kfake, in memory) on a free port
// of 127.0.0.1 with the given topics of partitions partitions each, closed
// when the test ends, and returns its seed broker addresses.
func Kafka(t testing.TB, partitions int, topics ...string) []string {
	t.Helper()
	c, err := devstack.StartBroker(devstack.BrokerOptions{
		Addr:       "127.0.0.1:0",
		Partitions: partitions,
		Topics:     topics,
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

var shared struct {
	once   sync.Once
	mu     sync.Mutex
	server *devstack.TemporalServer
	addr   string
	err    error
}

// Temporal returns the host:port of a Temporal dev server (in-memory state,
// free ports) that every test of the binary shares; the first call starts it
// and Main stops it. With $ORDERFLOW_TEST_TEMPORAL_ADDR set, that server is
// used instead. Tests keep apart through unique task queues and ids.
func Temporal(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if addr := os.Getenv("ORDERFLOW_TEST_TEMPORAL_ADDR"); addr != "" {
			shared.addr = addr
			return
		}
		bin, err := devstack.TemporalBin()
		if err != nil {
			shared.err = err
			return
		}
		var log io.Writer
		if os.Getenv("ORDERFLOW_TEST_TEMPORAL_LOG") == "1" {
			log = os.Stderr
		}
		s, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{Bin: bin, Log: log})
		if err != nil {
			shared.err = err
			return
		}
		shared.mu.Lock()
		shared.server, shared.addr = s, s.Addr()
		shared.mu.Unlock()
	})
	if shared.err != nil {
		t.Fatalf("testenv: %v", shared.err)
	}
	return shared.addr
}

func stopTemporal() error {
	shared.mu.Lock()
	s := shared.server
	shared.server = nil
	shared.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Stop()
}

// Config returns the default configuration (as with an empty environment)
// pointed at this test's services: a fresh database, an in-process broker
// with partitions partitions and topics unique to the test, a consumer
// group, task-queue prefix and schedule id unique to the test, the shared
// Temporal dev server, the test Redis, free ports for the dashboard and the
// health endpoint, a temporary data folder, and a WORKER_STOP_TIMEOUT of 10 s.
func Config(t testing.TB, partitions int) config.Config {
	t.Helper()
	return NewTestStack(t, func(c *config.Config) {
		c.Kafka.Partitions = max(partitions, 1)
		c.Temporal.WorkerStopTimeout = 10 * time.Second // a test's cleanup need not wait 50 s for an activity
	}).Config
}

// UniqueSuffix returns a name fragment unique to this call, from the
// test's name (Suffix).
func UniqueSuffix(t testing.TB) string { return Suffix(t.Name()) }

// Suffix returns a name fragment unique to this call: name, lower-cased
// with anything but letters and digits turned into '-' and cut to 40
// characters, then '-' and 8 random hex digits. It is safe in topic names,
// group ids, task queues, schedule ids and Redis keys.
func Suffix(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	name = strings.Trim(b.String(), "-")
	if name == "" {
		name = "test"
	}
	return name + "-" + randomHex(4)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := devstack.FreePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

func redisAddr() string { return envOr("ORDERFLOW_TEST_REDIS_ADDR", defaultRedisAddr) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// withDatabase returns dsn (URL or keyword/value form) naming database db.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return "", err
	}
	return dsn + " dbname=" + db, nil // a later keyword wins
}

// redactDSN hides the password of a URL DSN.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}
