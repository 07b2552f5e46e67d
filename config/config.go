// Package config reads orderflow's settings from the environment, once per
// process. Every setting has a default that works on the local stack; the
// README's configuration table lists them all.
package config

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
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

type reader struct {
	lookup func(string) (string, bool)
	errs   []string
}

func (r *reader) fail(key, msg string) { r.errs = append(r.errs, key+" "+msg) }

func (r *reader) str(key, def string) string {
	if v, ok := r.lookup(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// roles reads a list of worker roles; Load checks each is Valid.
func (r *reader) roles(key, def string) []Role {
	var out []Role
	for _, s := range r.list(key, def) {
		out = append(out, Role(s))
	}
	return out
}

func joinRoles(rs []Role, sep string) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, sep)
}

func (r *reader) list(key, def string) []string {
	var out []string
	for _, part := range strings.Split(r.str(key, def), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (r *reader) integer(key string, def int) int {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not a whole number: %q", v))
		return def
	}
	return n
}

func (r *reader) float(key string, def float64) float64 {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not a number: %q", v))
		return def
	}
	return f
}

func (r *reader) boolean(key string, def bool) bool {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not true/false: %q", v))
		return def
	}
	return b
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	v := r.str(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(key, fmt.Sprintf("is not a duration like 25s: %q", v))
		return def
	}
	return d
}

// Environ renders the configuration as the environment variables Load reads,
// so a child process (a worker started by a test or a benchmark) gets the
// same settings.
func (c Config) Environ() []string {
	kv := map[string]string{
		"KAFKA_BROKERS":              strings.Join(c.Kafka.Brokers, ","),
		"KAFKA_INPUT_TOPIC":          c.Kafka.InputTopic,
		"KAFKA_STG_TOPIC":            c.Kafka.StgTopic,
		"KAFKA_DDS_TOPIC":            c.Kafka.DdsTopic,
		"KAFKA_GROUP":                c.Kafka.Group,
		"KAFKA_SASL_MECHANISM":       c.Kafka.SASLMechanism,
		"KAFKA_SASL_USERNAME":        c.Kafka.SASLUser,
		"KAFKA_SASL_PASSWORD":        c.Kafka.SASLPassword,
		"KAFKA_TLS":                  strconv.FormatBool(c.Kafka.TLS),
		"KAFKA_TLS_CA_FILE":          c.Kafka.TLSCAFile,
		"KAFKA_TLS_SKIP_VERIFY":      strconv.FormatBool(c.Kafka.TLSSkipVerify),
		"KAFKA_PARTITIONS":           strconv.Itoa(c.Kafka.Partitions),
		"PG_DSN":                     c.PGDSN,
		"PG_SET_ROLE":                strconv.FormatBool(c.PGSetRole),
		"REDIS_ADDR":                 c.Redis.Addr,
		"REDIS_USERNAME":             c.Redis.Username,
		"REDIS_PASSWORD":             c.Redis.Password,
		"REDIS_DB":                   strconv.Itoa(c.Redis.DB),
		"REDIS_TLS":                  strconv.FormatBool(c.Redis.TLS),
		"TEMPORAL_ADDRESS":           c.Temporal.Address,
		"TEMPORAL_NAMESPACE":         c.Temporal.Namespace,
		"TEMPORAL_TASK_QUEUE_PREFIX": c.Temporal.TaskQueuePrefix,
		"TEMPORAL_TLS":               strconv.FormatBool(c.Temporal.TLS),
		"TEMPORAL_TLS_CA_FILE":       c.Temporal.TLSCAFile,
		"TEMPORAL_TLS_CERT_FILE":     c.Temporal.TLSCertFile,
		"TEMPORAL_TLS_KEY_FILE":      c.Temporal.TLSKeyFile,
		"TEMPORAL_TLS_SERVER_NAME":   c.Temporal.TLSServerName,
		"TEMPORAL_API_KEY":           c.Temporal.APIKey,
		"WORKER_STOP_TIMEOUT":        c.Temporal.WorkerStopTimeout.String(),
		"BATCH_SIZE":                 strconv.Itoa(c.Pipeline.BatchSize),
		"DRAIN_BATCH_SIZE":           strconv.Itoa(c.Pipeline.DrainBatchSize),
		"SCHEDULE_INTERVAL":          c.Pipeline.ScheduleInterval.String(),
		"SCHEDULE_ID":                c.Pipeline.ScheduleID,
		"SHARDS":                     strconv.Itoa(c.Pipeline.Shards),
		"RUN_TIMEOUT":                c.Pipeline.RunTimeout.String(),
		"FETCH_WAIT":                 c.Pipeline.FetchWait.String(),
		"HEARTBEAT_TIMEOUT":          c.Pipeline.HeartbeatTimeout.String(),
		"DASHBOARD_ADDR":             c.DashboardAddr,
		"HEALTH_ADDR":                c.HealthAddr,
		"PPROF":                      strconv.FormatBool(c.Pprof),
		"DATA_DIR":                   c.DataDir,
		"LOG_FORMAT":                 c.LogFormat,
		"LOG_LEVEL":                  c.LogLevel,
		"WORKER_ROLES":               joinRoles(c.WorkerRoles, ","),
		"ORDERFLOW_DEMO":             strconv.FormatBool(c.Demo),
		"SIM_SEED":                   strconv.FormatInt(c.Sim.Seed, 10),
		"SIM_USERS":                  strconv.Itoa(c.Sim.Users),
		"SIM_RESTAURANTS":            strconv.Itoa(c.Sim.Restaurants),
		"SIM_HISTORY_ORDERS":         strconv.Itoa(c.Sim.HistoryOrders),
		"SIM_ORDERS_PER_MINUTE":      strconv.FormatFloat(c.Sim.PerMinute, 'f', -1, 64),
		"MAX_POISON_PER_BATCH":       strconv.Itoa(c.MaxPoison),
	}
	out := make([]string, 0, len(kv))
	for k, v := range kv {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
