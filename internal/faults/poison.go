package faults

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/orderflow/orderflow/activities"
)

// EnvPoison is the environment variable of the poison fault, for the
// safety-net tests: ORDERFLOW_FAULT_POISON=<Activity>:<partition>:<offset>
// makes that record fail for good inside that activity, whenever the batch
// the activity moves holds it. Never set it in production.
const EnvPoison = "ORDERFLOW_FAULT_POISON"

// Poison names the record that fails, and where.
type Poison struct {
	Activity  string
	Partition int32
	Offset    int64
}

// ParsePoison reads "<Activity>:<partition>:<offset>"; "" means no fault.
func ParsePoison(s string) (*Poison, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return nil, fmt.Errorf("%s=%q: want <Activity>:<partition>:<offset>", EnvPoison, s)
	}
	if !slices.Contains(activities.Names, parts[0]) {
		return nil, fmt.Errorf("%s=%q: no activity is named %q", EnvPoison, s, parts[0])
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%s=%q: partition and offset must be integers", EnvPoison, s)
	}
	return &Poison{Activity: parts[0], Partition: int32(p), Offset: o}, nil
}

// Hook returns the activities' hook that carries out p: it fails for good
// (activities.ErrTypeInjectedPoison) when called for p's activity with a
// batch that holds the chosen record (among its raw records for
// EnrichViaRedis, among its orders after that: pool is the activity's own).
func (p *Poison) Hook() activities.Hook {
	return func(ctx context.Context, pool *pgxpool.Pool, activity, batchID string) error {
		if activity != p.Activity {
			return nil
		}
		table := "stg.batch_orders"
		if activity == activities.EnrichViaRedisName {
			table = "stg.batch_messages"
		}
		var holds bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`
			WHERE batch_id = $1 AND "partition" = $2 AND "offset" = $3)`, batchID, p.Partition, p.Offset).Scan(&holds)
		if err != nil {
			return fmt.Errorf("poison fault: %w", err) // retryable
		}
		if !holds {
			return nil
		}
		err = fmt.Errorf("injected poison: record %d/%d fails %s", p.Partition, p.Offset, activity)
		return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInjectedPoison, err)
	}
}
