// Package config reads orderflow's settings from the environment, once per
// process. Every setting has a default that works on the local stack; the
// README's configuration table lists them all.
package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Config holds every setting of an orderflow process.
type Config struct {
	Kafka Kafka
	PGDSN string
	// PGSetRole makes each worker layer act as its own PostgreSQL role.
	PGSetRole bool
	Redis     Redis
	Temporal  Temporal
	Pipeline  Pipeline

	DashboardAddr string
	HealthAddr    string
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/ on HealthAddr.
	Pprof       bool
	DataDir     string
	LogFormat   string
	LogLevel    string
	WorkerRoles []Role
	Demo        bool
	Sim         Simulator
	// MaxPoison is how many records of one batch the safety net may set
	// aside as poison before it decides the failure is not about records
	// and stops the pipeline.
	MaxPoison int
}

// Kafka holds the broker address, topic names, consumer group and security options.
type Kafka struct {
	Brokers       []string
	InputTopic    string
	StgTopic      string
	DdsTopic      string
	Group         string
	SASLMechanism string // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUser      string
	SASLPassword  string
	TLS           bool
	TLSCAFile     string
	TLSSkipVerify bool
	Partitions    int // partitions of the topics the local broker creates
}

// Redis holds the reference-data store's address and credentials.
type Redis struct {
	Addr     string
	Username string
	Password string
	DB       int
	TLS      bool
}

// Temporal holds the Temporal frontend address, namespace, task queues and
// the connection's security: TLS (with a client certificate for mTLS) or an
// API key (Temporal Cloud), which implies TLS.
type Temporal struct {
	Address         string
	Namespace       string
	TaskQueuePrefix string
	TLS             bool
	TLSCAFile       string
	TLSCertFile     string
	TLSKeyFile      string
	TLSServerName   string
	APIKey          string
	// WorkerStopTimeout is how long a stopping worker lets its running
	// activities finish before cancelling them; keep it below the pod's
	// terminationGracePeriodSeconds.
	WorkerStopTimeout time.Duration
}

// UsesTLS tells whether the Temporal connection is encrypted: TEMPORAL_TLS,
// a client certificate, a CA file or an API key each turn it on.
func (t Temporal) UsesTLS() bool {
	return t.TLS || t.TLSCAFile != "" || t.TLSCertFile != "" || t.APIKey != ""
}

// TaskQueue names the task queue of a worker role (stg, dds or cdm).
func (t Temporal) TaskQueue(role Role) string { return t.TaskQueuePrefix + "-" + string(role) }

// Role is a worker role: one layer of the warehouse, with its own task
// queue (<TASK_QUEUE_PREFIX>-<role>), Temporal worker and PostgreSQL role
// (db.Role). WORKER_ROLES lists the roles a process runs.
type Role string

// The worker roles.
const (
	RoleStg Role = "stg"
	RoleDds Role = "dds"
	RoleCdm Role = "cdm"
)

// Roles lists every worker role, in the order a batch goes through them.
var Roles = []Role{RoleStg, RoleDds, RoleCdm}

// Valid tells whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Pipeline holds the batch and schedule settings.
type Pipeline struct {
	BatchSize        int
	DrainBatchSize   int
	ScheduleInterval time.Duration
	ScheduleID       string
	Shards           int
	RunTimeout       time.Duration
	FetchWait        time.Duration
	// HeartbeatTimeout is how soon a dead worker's activity is retried elsewhere.
	HeartbeatTimeout time.Duration
}

// Simulator holds the order-service simulator's settings.
type Simulator struct {
	Seed          int64
	Users         int
	Restaurants   int
	HistoryOrders int
	PerMinute     float64
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) { return Load(os.LookupEnv) }

// Load reads the configuration through lookup (os.LookupEnv in production, a
// map in tests) and reports every malformed value at once.
func Load(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		Kafka: Kafka{
			Brokers:       r.list("KAFKA_BROKERS", "127.0.0.1:9092"),
			InputTopic:    r.str("KAFKA_INPUT_TOPIC", "order-service_orders"),
			StgTopic:      r.str("KAFKA_STG_TOPIC", "stg-service-orders"),
			DdsTopic:      r.str("KAFKA_DDS_TOPIC", "dds-service-orders"),
			Group:         r.str("KAFKA_GROUP", "orderflow"),
			SASLMechanism: strings.ToUpper(r.str("KAFKA_SASL_MECHANISM", "")),
			SASLUser:      r.str("KAFKA_SASL_USERNAME", ""),
			SASLPassword:  r.str("KAFKA_SASL_PASSWORD", ""),
			TLS:           r.boolean("KAFKA_TLS", false),
			TLSCAFile:     r.str("KAFKA_TLS_CA_FILE", ""),
			TLSSkipVerify: r.boolean("KAFKA_TLS_SKIP_VERIFY", false),
			Partitions:    r.integer("KAFKA_PARTITIONS", 1),
		},
		PGDSN:     r.str("PG_DSN", "postgres://postgres@127.0.0.1:5432/orderflow?sslmode=disable"),
		PGSetRole: r.boolean("PG_SET_ROLE", true),
		Redis: Redis{
			Addr:     r.str("REDIS_ADDR", "127.0.0.1:6379"),
			Username: r.str("REDIS_USERNAME", ""),
			Password: r.str("REDIS_PASSWORD", ""),
			DB:       r.integer("REDIS_DB", 0),
			TLS:      r.boolean("REDIS_TLS", false),
		},
		Temporal: Temporal{
			Address:           r.str("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
			Namespace:         r.str("TEMPORAL_NAMESPACE", "default"),
			TaskQueuePrefix:   r.str("TEMPORAL_TASK_QUEUE_PREFIX", "orderflow"),
			TLS:               r.boolean("TEMPORAL_TLS", false),
			TLSCAFile:         r.str("TEMPORAL_TLS_CA_FILE", ""),
			TLSCertFile:       r.str("TEMPORAL_TLS_CERT_FILE", ""),
			TLSKeyFile:        r.str("TEMPORAL_TLS_KEY_FILE", ""),
			TLSServerName:     r.str("TEMPORAL_TLS_SERVER_NAME", ""),
			APIKey:            r.str("TEMPORAL_API_KEY", ""),
			WorkerStopTimeout: r.duration("WORKER_STOP_TIMEOUT", 50*time.Second),
		},
		Pipeline: Pipeline{
			BatchSize:        r.integer("BATCH_SIZE", 100),
			DrainBatchSize:   r.integer("DRAIN_BATCH_SIZE", 20000),
			ScheduleInterval: r.duration("SCHEDULE_INTERVAL", 25*time.Second),
			ScheduleID:       r.str("SCHEDULE_ID", "orderflow-pipeline"),
			Shards:           r.integer("SHARDS", 1),
			RunTimeout:       r.duration("RUN_TIMEOUT", 10*time.Minute),
			FetchWait:        r.duration("FETCH_WAIT", 5*time.Second),
			HeartbeatTimeout: r.duration("HEARTBEAT_TIMEOUT", 20*time.Second),
		},
		DashboardAddr: r.str("DASHBOARD_ADDR", "127.0.0.1:8080"),
		HealthAddr:    r.str("HEALTH_ADDR", "127.0.0.1:8081"),
		Pprof:         r.boolean("PPROF", false),
		DataDir:       r.str("DATA_DIR", "data"),
		LogFormat:     r.str("LOG_FORMAT", "text"),
		LogLevel:      r.str("LOG_LEVEL", "info"),
		WorkerRoles:   r.roles("WORKER_ROLES", "stg,dds,cdm"),
		Demo:          r.boolean("ORDERFLOW_DEMO", true),
		Sim: Simulator{
			Seed:          int64(r.integer("SIM_SEED", 42)),
			Users:         r.integer("SIM_USERS", 3000),
			Restaurants:   r.integer("SIM_RESTAURANTS", 8),
			HistoryOrders: r.integer("SIM_HISTORY_ORDERS", 50000),
			PerMinute:     r.float("SIM_ORDERS_PER_MINUTE", 5),
		},
		MaxPoison: r.integer("MAX_POISON_PER_BATCH", 10),
	}
	if c.Pipeline.BatchSize < 1 {
		r.fail("BATCH_SIZE", "must be at least 1")
	}
	if c.Pipeline.DrainBatchSize < c.Pipeline.BatchSize {
		c.Pipeline.DrainBatchSize = c.Pipeline.BatchSize
	}
	if c.Pipeline.Shards < 1 {
		r.fail("SHARDS", "must be at least 1")
	}
	if c.Kafka.Partitions < 1 {
		r.fail("KAFKA_PARTITIONS", "must be at least 1")
	}
	switch c.Kafka.SASLMechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		r.fail("KAFKA_SASL_MECHANISM", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	}
	if (c.Temporal.TLSCertFile == "") != (c.Temporal.TLSKeyFile == "") {
		r.fail("TEMPORAL_TLS_CERT_FILE", "and TEMPORAL_TLS_KEY_FILE must be set together")
	}
	if c.Temporal.WorkerStopTimeout < 0 {
		r.fail("WORKER_STOP_TIMEOUT", "must not be negative")
	}
	switch strings.ToLower(c.LogFormat) {
	case "text", "json":
	default:
		r.fail("LOG_FORMAT", fmt.Sprintf("must be text or json, not %q", c.LogFormat))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		r.fail("LOG_LEVEL", fmt.Sprintf("must be debug, info, warn or error, not %q", c.LogLevel))
	}
	for _, role := range c.WorkerRoles {
		if !role.Valid() {
			r.fail("WORKER_ROLES", fmt.Sprintf("unknown role %q (want %s)", role, joinRoles(Roles, ", ")))
		}
	}
	if len(r.errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(r.errs, "; "))
	}
	return c, nil
}
