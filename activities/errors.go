package activities

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/temporal"
)

// Error types of the non-retryable errors: an operator matches on them in
// the Temporal UI. Everything else is transient and retried with backoff.
const (
	// ErrTypeIntegrity is a constraint violation (SQLSTATE class 23): a bug of ours.
	ErrTypeIntegrity = "IntegrityViolation"
	// ErrTypeBadSQL is an SQL, schema or privilege error (classes 42, 0A): a bug or a missing migration.
	ErrTypeBadSQL = "BadSQL"
	// ErrTypeBadData is a value PostgreSQL refused (class 22): validation let through what it must not.
	ErrTypeBadData = "BadData"
	// ErrTypeKafkaRejected is a request Kafka refused for good (authorization, unknown topic config, …).
	ErrTypeKafkaRejected = "KafkaRejected"
	// ErrTypeCorruptBatch is a working-table row that does not decode: a bug of ours.
	ErrTypeCorruptBatch = "CorruptBatchRow"
)

// pgPermanent maps SQLSTATE classes that retrying cannot fix to error types.
// Transient classes (08 connection, 40 rollback/deadlock, 53 resources,
// 55 lock not available, 57 admin shutdown/cancel, 58 system, XX internal)
// are absent and so retried.
var pgPermanent = map[string]string{
	"22": ErrTypeBadData,
	"23": ErrTypeIntegrity,
	"42": ErrTypeBadSQL,
	"0A": ErrTypeBadSQL,
}

// classify decides whether an activity's error is retried: PostgreSQL errors
// by SQLSTATE class, Kafka errors by whether Kafka calls them retriable;
// network errors, timeouts and everything unknown are transient.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) == 5 {
		if typ, ok := pgPermanent[pg.Code[:2]]; ok {
			return temporal.NewNonRetryableApplicationError(err.Error(), typ, err)
		}
		return err
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable && !errors.Is(err, context.DeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeKafkaRejected, err)
		}
	}
	return err
}

// permanent marks an error no retry can fix, with a stable type.
func permanent(errType string, err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), errType, err)
}
