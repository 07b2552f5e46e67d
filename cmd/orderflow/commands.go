package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/refdata"
	"github.com/orderflow/orderflow/rejects"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
	"github.com/orderflow/orderflow/workers"
)

func cmdWorker(ctx context.Context, e *env, args []string) error {
	fs := flags("worker", "worker   (roles from WORKER_ROLES)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	app := workers.App(e.cfg, e.log)
	if err := app.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return app.Stop(context.Background())
}

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	if err := flags("migrate", "migrate").Parse(args); err != nil {
		return err
	}
	pool, err := db.Open(ctx, e.cfg.PGDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := db.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "applied %d migration(s)\n", n)
	return nil
}

func dialTemporal(e *env) (client.Client, error) {
	c, err := client.Dial(client.Options{HostPort: e.cfg.Temporal.Address, Namespace: e.cfg.Temporal.Namespace})
	if err != nil {
		return nil, fmt.Errorf("temporal at %s is unreachable: %w", e.cfg.Temporal.Address, err)
	}
	return c, nil
}

func cmdSchedule(ctx context.Context, e *env, args []string) error {
	fs := flags("schedule", "schedule ensure|pause|resume|trigger|delete|describe [-note text]")
	note := fs.String("note", "", "why (shown in the Temporal UI) for pause and resume")
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("schedule: which action?")
	}
	action := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := dialTemporal(e)
	if err != nil {
		return err
	}
	defer c.Close()
	switch action {
	case "ensure":
		ids, err := starter.Ensure(ctx, c, e.cfg)
		if err != nil {
			return err
		}
		for _, id := range ids {
			fmt.Fprintf(e.out, "schedule %s: every %s, batch %d (drain %d)\n", id, e.cfg.Pipeline.ScheduleInterval, e.cfg.Pipeline.BatchSize, e.cfg.Pipeline.DrainBatchSize)
		}
		return nil
	case "pause":
		if *note == "" {
			*note = "paused with orderflow schedule pause"
		}
		return starter.Pause(ctx, c, e.cfg, *note)
	case "resume":
		return starter.Resume(ctx, c, e.cfg, *note)
	case "trigger":
		return starter.Trigger(ctx, c, e.cfg)
	case "delete":
		return starter.Delete(ctx, c, e.cfg)
	case "describe":
		for _, id := range starter.ScheduleIDs(e.cfg) {
			d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
			if err != nil {
				return fmt.Errorf("schedule %s: %w", id, err)
			}
			fmt.Fprintf(e.out, "%s: paused=%v note=%q actions=%d running=%d\n", id, d.Schedule.State.Paused, d.Schedule.State.Note, d.Info.NumActions, len(d.Info.RunningWorkflows))
		}
		return nil
	}
	return fmt.Errorf("schedule: unknown action %q", action)
}

func cmdRewind(ctx context.Context, e *env, args []string) error {
	fs := flags("rewind", "rewind -offset N | -time 2026-11-26T10:00:00Z   (pause the schedule first; loads are idempotent)")
	offset := fs.Int64("offset", 0, "the offset every input partition restarts from")
	at := fs.String("time", "", "restart every partition at its first record at or after this RFC 3339 time (instead of -offset)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl, err := kafkaio.NewClient(e.cfg.Kafka, e.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kafkaio.Admin(cl)
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("rewind -time: %w", err)
		}
		offs, err := kafkaio.RewindTo(ctx, adm, e.cfg.Kafka.Group, e.cfg.Kafka.InputTopic, t)
		if err != nil {
			return err
		}
		for _, p := range slices.Sorted(maps.Keys(offs)) {
			fmt.Fprintf(e.out, "group %s now reads %s[%d] from offset %d\n", e.cfg.Kafka.Group, e.cfg.Kafka.InputTopic, p, offs[p])
		}
		return nil
	}
	if err := kafkaio.Rewind(ctx, adm, e.cfg.Kafka.Group, e.cfg.Kafka.InputTopic, *offset); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "group %s now reads %s from offset %d\n", e.cfg.Kafka.Group, e.cfg.Kafka.InputTopic, *offset)
	return nil
}

func newRedis(ctx context.Context, e *env) (redis.UniversalClient, error) {
	return workers.OpenRedis(ctx, e.cfg.Redis)
}

func cmdReprocess(ctx context.Context, e *env, args []string) error {
	fs := flags("reprocess", "reprocess -reason unknown_restaurant|product_not_in_menu")
	reason := fs.String("reason", "", "which rejected messages to re-check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reason == "" {
		fs.Usage()
		return fmt.Errorf("reprocess: -reason is required")
	}
	pool, err := db.Open(ctx, e.cfg.PGDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	rdb, err := newRedis(ctx, e)
	if err != nil {
		return err
	}
	defer rdb.Close()
	cl, err := kafkaio.NewClient(e.cfg.Kafka, e.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	rep, err := rejects.Reprocess(ctx, pool, refdata.NewStore(rdb), cl, e.cfg.Kafka.InputTopic, order.Reason(*reason))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "%s: %d checked, %d re-queued and resolved, %d still failing\n", *reason, rep.Checked, rep.Requeued, rep.StillOpen)
	return nil
}

func cmdSimulate(ctx context.Context, e *env, args []string) error {
	fs := flags("simulate", "simulate [-history N] [-per-minute R]")
	history := fs.Int("history", e.cfg.Sim.HistoryOrders, "orders of history to produce first (0: none)")
	rate := fs.Float64("per-minute", e.cfg.Sim.PerMinute, "live orders per minute afterwards (0: stop after the history)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rdb, err := newRedis(ctx, e)
	if err != nil {
		return err
	}
	defer rdb.Close()
	cl, err := kafkaio.NewClient(e.cfg.Kafka, e.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	return simulate(ctx, e, rdb, cl, *history, *rate)
}

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

func cmdStatus(ctx context.Context, e *env, args []string) error {
	if err := flags("status", "status").Parse(args); err != nil {
		return err
	}
	pool, err := db.Open(ctx, e.cfg.PGDSN)
	if err != nil {
		return err
	}
	defer pool.Close()
	cl, err := kafkaio.NewClient(e.cfg.Kafka, e.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	return printStatus(ctx, e, pool, cl)
}

func printStatus(ctx context.Context, e *env, pool *pgxpool.Pool, cl *kgo.Client) error {
	rep, err := health.Take(ctx, e.cfg, pool, kafkaio.Admin(cl))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, rep.String())
	return nil
}

func cmdBroker(ctx context.Context, e *env, args []string) error {
	fs := flags("broker", "broker [-addr host:port] [-data dir]")
	addr := fs.String("addr", e.cfg.Kafka.Brokers[0], "listen address")
	dir := fs.String("data", e.cfg.DataDir+"/kafka", "data folder (empty: in memory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cluster, err := devstack.StartBroker(devstack.BrokerOptions{
		Addr: *addr, DataDir: *dir, Partitions: e.cfg.Kafka.Partitions,
		Topics: []string{e.cfg.Kafka.InputTopic, e.cfg.Kafka.StgTopic, e.cfg.Kafka.DdsTopic},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "kafka broker on %s, data in %s (Ctrl-C stops)\n", *addr, *dir)
	<-ctx.Done()
	cluster.Close()
	return nil
}
