package activities

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrTypeInjectedPoison is the error of the poison test hook (PoisonHook).
const ErrTypeInjectedPoison = "InjectedPoison"

// RecordCaused lists the non-retryable error types that one or a few
// records can cause. When an activity fails with one of them, the workflow
// isolates the records (splitting the batch) instead of stopping; any other
// non-retryable error (BadSQL: a missing table, a revoked privilege) stops
// the pipeline.
var RecordCaused = map[string]bool{
	ErrTypeBadData:        true,
	ErrTypeIntegrity:      true,
	ErrTypeKafkaRejected:  true,
	ErrTypeCorruptBatch:   true,
	ErrTypeInjectedPoison: true,
}

// PoisonHook makes one chosen record fail for good inside one activity,
// whenever the batch the activity moves holds it: the tests of the safety
// net arm it with ORDERFLOW_FAULT_POISON=<Activity>:<partition>:<offset>.
type PoisonHook struct {
	Activity  string
	Partition int32
	Offset    int64
}

// ParsePoisonHook reads "<Activity>:<partition>:<offset>"; "" means none.
func ParsePoisonHook(s string) (*PoisonHook, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return nil, fmt.Errorf("ORDERFLOW_FAULT_POISON=%q: want <Activity>:<partition>:<offset>", s)
	}
	if !slices.Contains(Names, parts[0]) {
		return nil, fmt.Errorf("ORDERFLOW_FAULT_POISON=%q: no activity is named %q", s, parts[0])
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("ORDERFLOW_FAULT_POISON=%q: partition and offset must be integers", s)
	}
	return &PoisonHook{Activity: parts[0], Partition: int32(p), Offset: o}, nil
}

// injectedPoison fails for good when the hook is armed for activity and the
// batch holds the chosen record (among its raw records for EnrichViaRedis,
// among its orders after that: pool is the activity's own).
func (a *Activities) injectedPoison(ctx context.Context, pool *pgxpool.Pool, activity, batchID string) error {
	h := a.Poison
	if h == nil || h.Activity != activity {
		return nil
	}
	table := "stg.batch_orders"
	if activity == EnrichViaRedisName {
		table = "stg.batch_messages"
	}
	var holds bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`
		WHERE batch_id = $1 AND "partition" = $2 AND "offset" = $3)`, batchID, h.Partition, h.Offset).Scan(&holds)
	if err != nil {
		return classify(err)
	}
	if !holds {
		return nil
	}
	return permanent(ErrTypeInjectedPoison, fmt.Errorf("injected poison: record %d/%d fails %s", h.Partition, h.Offset, activity))
}
