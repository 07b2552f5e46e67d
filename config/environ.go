package config

import (
	"sort"
	"strconv"
	"strings"
)

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
