// Package kafkaio holds orderflow's Kafka plumbing on franz-go: clients with
// SASL/TLS, the member-less consumer group's offsets, reading an exact offset
// range, and producing.
package kafkaio

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/orderflow/orderflow/config"
)

// Options turns the configuration into franz-go client options (brokers,
// SASL, TLS, logging). Extra options are appended.
func Options(cfg config.Kafka, log *slog.Logger, extra ...kgo.Opt) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("orderflow"),
		kgo.DialTimeout(5 * time.Second),
		kgo.RequestRetries(5),
	}
	if log != nil {
		opts = append(opts, kgo.WithLogger(slogAdapter{log.With("component", "kafka")}))
	}
	switch cfg.SASLMechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha512Mechanism()))
	}
	if cfg.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSSkipVerify} //nolint:gosec // opt-in for test brokers
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE %s: no PEM certificate found", cfg.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return append(opts, extra...), nil
}

// NewClient builds a client for producing and for admin requests. Batches
// are compressed (zstd, else snappy, whichever the broker takes) and capped
// by what each topic accepts (see Limits; pass one to produce to topics whose
// max.message.bytes is not the default).
func NewClient(cfg config.Kafka, log *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := Options(cfg, log, append([]kgo.Opt{
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.SnappyCompression(), kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(DefaultMaxMessageBytes),
	}, extra...)...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// Ping checks that a broker answers, with a message naming the brokers.
func Ping(ctx context.Context, cl *kgo.Client, brokers []string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka at %v is unreachable: %w", brokers, err)
	}
	return nil
}

// Admin wraps a client in kadm.
func Admin(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Level() kgo.LogLevel {
	if a.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelWarn
}

func (a slogAdapter) Log(level kgo.LogLevel, msg string, kv ...any) {
	switch level {
	case kgo.LogLevelError:
		a.l.Error(msg, kv...)
	case kgo.LogLevelWarn:
		a.l.Warn(msg, kv...)
	case kgo.LogLevelInfo:
		a.l.Info(msg, kv...)
	default:
		a.l.Debug(msg, kv...)
	}
}
