package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
)

// simulate runs the simulator; the history is produced only into an empty
// topic, so restarting `make run` does not send the week again.
func simulate(ctx context.Context, e *env, rdb redis.UniversalClient, cl *kgo.Client, history int, rate float64) error {
	w := simulator.NewWorld(simulator.Options{Seed: e.cfg.Sim.Seed, Users: e.cfg.Sim.Users, Restaurants: e.cfg.Sim.Restaurants, End: time.Now().UTC()})
	adm := kafkaio.Admin(cl)
	ends, err := adm.ListEndOffsets(ctx, e.cfg.Kafka.InputTopic)
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", e.cfg.Kafka.InputTopic, err)
	}
	var existing int64
	ends.Each(func(o kadm.ListedOffset) { existing += o.Offset })
	if existing > 0 && history > 0 {
		// Advance the world past what an earlier run sent (the history, then
		// live orders), so live orders continue with new ids.
		sent := int64(len(w.History(history)))
		for sent < existing {
			sent += int64(len(w.Live(time.Now())))
		}
		e.log.Info("input topic already holds records: not producing the history again", "records", existing)
		history = 0
	}
	return simulator.Run(ctx, w, rdb, cl, e.cfg.Kafka.InputTopic, history, rate, e.log.With("component", "simulator"))
}

func cmdSimulate(ctx context.Context, e *env, args []string) error {
	fs := flags("simulate", "simulate [-history N] [-per-minute R]")
	history := fs.Int("history", e.cfg.Sim.HistoryOrders, "orders of history to produce first (0: none)")
	rate := fs.Float64("per-minute", e.cfg.Sim.PerMinute, "live orders per minute afterwards (0: stop after the history)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *history < 0 || *rate < 0 {
		return usagef(fs, "-history and -per-minute must not be negative")
	}
	return withClients(ctx, e, useRedis|useKafka, func(c *clients) error {
		return simulate(ctx, e, c.rdb, c.kafka, *history, *rate)
	})
}
