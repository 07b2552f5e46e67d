package activities

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrTypeInjectedPoison is the error type of the poison fault of the tests
// (internal/faults, ORDERFLOW_FAULT_POISON): a record made to fail for good.
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

// Hook is the test seam of the activities that move a batch's records
// (EnrichViaRedis, LoadStg, LoadDdsVault, EmitCounters, UpsertCdm): each
// calls it first with its own pool, its name and the batch, and fails with
// the error it returns. Only binaries built with -tags faults set one (the
// poison fault of internal/faults); it is nil in production.
type Hook func(ctx context.Context, pool *pgxpool.Pool, activity, batchID string) error

// runHook calls a.Hook, when there is one, for activity and the batch.
func (a *Activities) runHook(ctx context.Context, pool *pgxpool.Pool, activity, batchID string) error {
	if a.Hook == nil {
		return nil
	}
	return a.Hook(ctx, pool, activity, batchID)
}
