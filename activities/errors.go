package activities

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/temporal"
)

// Error types a workflow or operator can match on. Permanent ones are not
// retried: retrying cannot fix them.
const (
	// ErrTypeIntegrity is a constraint violation (SQLSTATE class 23): a bug of ours.
	ErrTypeIntegrity = "IntegrityViolation"
	// ErrTypeBadSQL is an SQL or schema error (SQLSTATE class 42): a bug or a missing migration.
	ErrTypeBadSQL = "BadSQL"
)

// classify marks PostgreSQL errors that retrying cannot fix as non-retryable;
// everything else (connection loss, class 08/40/53/57, timeouts) is returned
// as is and retried with backoff.
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
		switch pg.Code[:2] {
		case "23":
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeIntegrity, err)
		case "42":
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadSQL, err)
		}
	}
	return err
}

// transient marks an error as worth retrying (network, broker, Redis).
func transient(err error) error { return err }

// permanent marks an error no retry can fix, with a stable type.
func permanent(errType string, err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), errType, err)
}
