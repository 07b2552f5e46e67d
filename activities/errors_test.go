package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.temporal.io/sdk/temporal"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		errType string // "" = retried
	}{
		{"unique violation", &pgconn.PgError{Code: "23505"}, ErrTypeIntegrity},
		{"check violation, wrapped", fmt.Errorf("upsert: %w", &pgconn.PgError{Code: "23514"}), ErrTypeIntegrity},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, ErrTypeBadSQL},
		{"permission denied", &pgconn.PgError{Code: "42501"}, ErrTypeBadSQL},
		{"invalid byte sequence", &pgconn.PgError{Code: "22021"}, ErrTypeBadData},
		{"connection failure", &pgconn.PgError{Code: "08006"}, ""},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, ""},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, ""},
		{"too many connections", &pgconn.PgError{Code: "53300"}, ""},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, ""},
		{"connection reset", io.ErrUnexpectedEOF, ""},
		{"timeout", context.DeadlineExceeded, ""},
		{"kafka leader moved", fmt.Errorf("fetch: %w", kerr.NotLeaderForPartition), ""},
		{"kafka unauthorized", fmt.Errorf("produce: %w", kerr.TopicAuthorizationFailed), ErrTypeKafkaRejected},
		{"already classified", temporal.NewNonRetryableApplicationError("x", "Custom", nil), "Custom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			var app *temporal.ApplicationError
			isApp := errors.As(got, &app) && app.NonRetryable()
			if tt.errType == "" {
				if isApp {
					t.Fatalf("%v became non-retryable %s", tt.err, app.Type())
				}
				if !errors.Is(got, tt.err) {
					t.Fatalf("the error lost its cause: %v", got)
				}
				return
			}
			if !isApp || app.Type() != tt.errType {
				t.Fatalf("classify(%v) = %v, want non-retryable %s", tt.err, got, tt.errType)
			}
		})
	}
}
