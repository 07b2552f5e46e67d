package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/temporalclient"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/workers"
)

// A short command (migrate, status, reprocess, simulate, rewind, schedule,
// backfill, verify) opens the clients it needs with withClients, which
// closes them when the command is done.

// uses names the clients a command needs.
type uses uint8

const (
	usePostgres uses = 1 << iota // PG_DSN, checked with a ping
	useRedis                     // REDIS_ADDR, checked with PING
	useKafka                     // KAFKA_BROKERS; dials when first used
	useTemporal                  // TEMPORAL_ADDRESS, dialled
)

// clients are a short command's connections: those it asked for, nil for
// the others.
type clients struct {
	pool     *pgxpool.Pool
	rdb      redis.UniversalClient
	kafka    *kgo.Client
	temporal client.Client
}

// withClients opens the clients u names (in the order PostgreSQL, Redis,
// Kafka, Temporal; the first failure is returned and nothing else is
// opened), runs fn with them and closes them.
func withClients(ctx context.Context, e *env, u uses, fn func(*clients) error) error {
	c, err := openClients(ctx, e, u)
	if err == nil {
		err = fn(c)
	}
	c.close()
	return err
}

func openClients(ctx context.Context, e *env, u uses) (*clients, error) {
	c := &clients{}
	var err error
	if u&usePostgres != 0 {
		if c.pool, err = db.Open(ctx, e.cfg.PGDSN); err != nil {
			return c, err
		}
	}
	if u&useRedis != 0 {
		rdb, err := workers.OpenRedis(ctx, e.cfg.Redis)
		if err != nil {
			return c, err
		}
		c.rdb = rdb
	}
	if u&useKafka != 0 {
		if c.kafka, err = kafkaio.NewClient(e.cfg.Kafka, e.log); err != nil {
			return c, err
		}
	}
	if u&useTemporal != 0 {
		if c.temporal, err = temporalclient.Dial(ctx, e.cfg.Temporal, e.log, nil); err != nil {
			return c, err
		}
	}
	return c, nil
}

// close closes every client opened, the last opened first.
func (c *clients) close() {
	if c.temporal != nil {
		c.temporal.Close()
	}
	if c.kafka != nil {
		c.kafka.Close()
	}
	if c.rdb != nil {
		_ = c.rdb.Close()
	}
	if c.pool != nil {
		c.pool.Close()
	}
}
