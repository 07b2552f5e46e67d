package testenv

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/devstack"
)

// StackOptions says where a Stack's services are and how to name it.
type StackOptions struct {
	Suffix       string // makes topics, group, task queues and schedule id unique; also the database name's
	AdminDSN     string // PostgreSQL server for the stack's database (default $ORDERFLOW_TEST_PG_DSN)
	DBPrefix     string // database name prefix (default "orderflow_t_")
	RedisAddr    string // default $ORDERFLOW_TEST_REDIS_ADDR
	TemporalAddr string
	DataDir      string
	// Tune changes the configuration before the broker and the database
	// exist: cfg.Kafka.Partitions decides the topics' partitions.
	Tune func(cfg *config.Config)
}

// Stack is one isolated pipeline environment: the default configuration
// pointed at a fresh database, an in-process broker with the stack's topics,
// and names (consumer group, task-queue prefix, schedule id) unique to it.
type Stack struct {
	Config config.Config
	Broker *kfake.Cluster
	DBName string
	admin  string
}

// NewStack builds the configuration (defaults, names from o.Suffix, free
// ports for the dashboard and the health endpoint, then o.Tune), starts the
// broker and creates the database. Close undoes it.
func NewStack(ctx context.Context, o StackOptions) (st *Stack, err error) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("default configuration: %w", err)
	}
	suffix := o.Suffix
	cfg.Kafka.InputTopic = "order-service_orders-" + suffix
	cfg.Kafka.StgTopic = "stg-service-orders-" + suffix
	cfg.Kafka.DdsTopic = "dds-service-orders-" + suffix
	cfg.Kafka.Group = "orderflow-" + suffix
	cfg.Temporal.Address = o.TemporalAddr
	cfg.Temporal.TaskQueuePrefix = "orderflow-" + suffix
	cfg.Pipeline.ScheduleID = "orderflow-pipeline-" + suffix
	cfg.Redis.Addr = o.RedisAddr
	if cfg.Redis.Addr == "" {
		cfg.Redis.Addr = redisAddr()
	}
	cfg.DataDir = o.DataDir
	for _, addr := range []*string{&cfg.DashboardAddr, &cfg.HealthAddr} {
		p, err := devstack.FreePort()
		if err != nil {
			return nil, err
		}
		*addr = "127.0.0.1:" + strconv.Itoa(p)
	}
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	cfg.Kafka.Partitions = max(cfg.Kafka.Partitions, 1)

	st = &Stack{admin: o.AdminDSN}
	if st.admin == "" {
		st.admin = envOr("ORDERFLOW_TEST_PG_DSN", defaultPGDSN)
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	st.Broker, err = devstack.StartBroker(devstack.BrokerOptions{
		Addr: "127.0.0.1:0", Partitions: cfg.Kafka.Partitions,
		Topics: []string{cfg.Kafka.InputTopic, cfg.Kafka.StgTopic, cfg.Kafka.DdsTopic},
	})
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = st.Broker.ListenAddrs()

	prefix := o.DBPrefix
	if prefix == "" {
		prefix = "orderflow_t_"
	}
	if cfg.PGDSN, st.DBName, err = createDatabase(ctx, st.admin, prefix); err != nil {
		return nil, err
	}
	st.Config = cfg
	return st, nil
}

// AdminDSN is the PostgreSQL server the stack's database lives on.
func (st *Stack) AdminDSN() string { return st.admin }

// Close drops the database (WITH (FORCE)) and stops the broker. It is safe
// on a partly built stack.
func (st *Stack) Close() error {
	var err error
	if st.DBName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = dropDatabase(ctx, st.admin, st.DBName)
		st.DBName = ""
	}
	if st.Broker != nil {
		st.Broker.Close()
		st.Broker = nil
	}
	return err
}

// NewTestStack is NewStack for a test: names from the test's name, the
// shared Temporal dev server, a temporary data folder; closed when the test
// ends.
func NewTestStack(t testing.TB, tune func(*config.Config)) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := NewStack(ctx, StackOptions{
		Suffix:       UniqueSuffix(t),
		TemporalAddr: Temporal(t),
		DataDir:      t.TempDir(),
		Tune:         tune,
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return st
}
