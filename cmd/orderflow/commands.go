package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/internal/temporalclient"
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
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	faults, err := faultOptions()
	if err != nil {
		return err
	}
	app := workers.App(e.cfg, e.log, faults)
	if err := startApp(ctx, app); err != nil {
		return err
	}
	<-ctx.Done()
	// Running activities get WORKER_STOP_TIMEOUT to finish (workers.App
	// sets the stop timeout above it).
	sctx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel()
	return app.Stop(sctx)
}

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	if err := parseFlags(e, flags("migrate", "migrate"), args); err != nil {
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
	return temporalclient.Dial(context.Background(), e.cfg.Temporal, e.log, nil)
}

func cmdSchedule(ctx context.Context, e *env, args []string) error {
	fs := flags("schedule", "schedule ensure|pause|resume|trigger|delete|describe [-note text]")
	note := fs.String("note", "", "why (shown in the Temporal UI) for pause and resume")
	if len(args) == 0 {
		return usagef(fs, "which action? (%s)", strings.Join(scheduleActions, ", "))
	}
	action := args[0]
	if strings.HasPrefix(action, "-") {
		// -h, or a flag before the action.
		if err := parseFlags(e, fs, args); err != nil && !errors.Is(err, errUnexpectedArg) {
			return err
		}
		return usagef(fs, "the action (%s) comes first, the flags after it", strings.Join(scheduleActions, ", "))
	}
	if !slices.Contains(scheduleActions, action) {
		return usagef(fs, "unknown action %q (want %s)", action, strings.Join(scheduleActions, ", "))
	}
	if err := parseFlags(e, fs, args[1:]); err != nil {
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
	return usagef(fs, "unknown action %q", action)
}

// scheduleActions are the words `orderflow schedule` takes.
var scheduleActions = []string{"ensure", "pause", "resume", "trigger", "delete", "describe"}

func cmdRewind(ctx context.Context, e *env, args []string) error {
	fs := flags("rewind", `rewind -offset N | -time 2026-11-26T10:00:00Z  [-pause [-wait 10m]]

Moves the consumer group's committed offsets of the input topic, on every
partition, to offset N, or (-time, RFC 3339) to each partition's first record
at or after that time (a partition with none goes to its end); the records
from there on are loaded again (loads are idempotent).

It refuses (exit 1, nothing moved) while any shard's schedule is unpaused or a
Pipeline run is in flight, since a run in flight commits its own range over the
rewind. Pause first (orderflow schedule pause, then wait until orderflow
schedule describe shows running=0; orderflow schedule resume after), or pass
-pause: rewind then pauses the schedules that are not paused, waits for the
runs in flight to end (-wait), moves the offsets, reads them back, and resumes
the schedules it paused (one that was paused before stays paused). If anything
fails after it paused, the schedules stay paused and it says how to resume.`)
	offset := fs.Int64("offset", 0, "the offset every input partition restarts from")
	at := fs.String("time", "", "restart every partition at its first record at or after this RFC 3339 time, e.g. 2026-11-26T10:00:00Z (instead of -offset)")
	pause := fs.Bool("pause", false, "pause the schedules, wait for the runs in flight, move and check the offsets, then resume the schedules it paused")
	wait := fs.Duration("wait", 10*time.Minute, "with -pause: how long to wait for the runs in flight to end")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var t time.Time
	switch {
	case set["offset"] == set["time"]:
		return usagef(fs, "give either -offset N or -time T")
	case set["offset"] && *offset < 0:
		return usagef(fs, "-offset %d: offsets start at 0", *offset)
	case set["time"]:
		var err error
		if t, err = time.Parse(time.RFC3339, *at); err != nil {
			return usagef(fs, "-time: %w", err)
		}
	}
	if *wait <= 0 {
		return usagef(fs, "-wait %s: must be positive", *wait)
	}
	tc, err := dialTemporal(e)
	if err != nil {
		return err
	}
	defer tc.Close()
	cl, err := kafkaio.NewClient(e.cfg.Kafka, e.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kafkaio.Admin(cl)
	group, topic := e.cfg.Kafka.Group, e.cfg.Kafka.InputTopic

	// From the first pause on, every error says the schedules stay paused.
	var paused []string
	fail := func(err error) error {
		if len(paused) == 0 {
			return err
		}
		return fmt.Errorf("%w\n%s", err, starter.ResumeHint(paused))
	}
	states, err := starter.States(ctx, tc, e.cfg)
	if err != nil {
		return err
	}
	if !*pause {
		if busy := starter.BusyReasons(states); len(busy) > 0 {
			return fmt.Errorf("rewind refused, no offset moved: %q (an unpaused schedule starts runs, and a run in flight commits its own range over the rewind).\n"+
				"Pause first: orderflow schedule pause (then wait until orderflow schedule describe shows running=0), "+
				"or run rewind -pause to pause, wait and resume by itself", busy)
		}
	} else {
		for _, st := range states {
			switch {
			case !st.Exists:
				fmt.Fprintf(e.out, "schedule %s does not exist: nothing to pause\n", st.ScheduleID)
			case st.Paused:
				fmt.Fprintf(e.out, "schedule %s was already paused (note %q): it stays paused\n", st.ScheduleID, st.Note)
			}
		}
		paused, err = starter.PauseUnpaused(ctx, tc, e.cfg, starter.RewindNote)
		for _, id := range paused {
			fmt.Fprintf(e.out, "paused schedule %s (note %q)\n", id, starter.RewindNote)
		}
		if err != nil {
			return fail(err)
		}
		_, err = starter.WaitIdle(ctx, tc, e.cfg, *wait, 5*time.Second, func(busy []string, waited time.Duration) {
			fmt.Fprintf(e.out, "waiting for the pipeline to stop (%s of at most %s): %q\n", waited.Round(time.Second), *wait, busy)
		})
		if err != nil {
			return fail(fmt.Errorf("rewind: %w; no offset moved", err))
		}
	}

	var offs map[int32]int64
	if set["time"] {
		offs, err = kafkaio.RewindTo(ctx, adm, group, topic, t)
	} else {
		offs, err = kafkaio.RewindOffsets(ctx, adm, group, topic, *offset)
	}
	if err != nil {
		return fail(fmt.Errorf("rewind: %w (the offsets may be partly moved: check with orderflow status, and run rewind again)", err))
	}
	if err := kafkaio.CheckCommitted(ctx, adm, group, topic, offs); err != nil {
		return fail(fmt.Errorf("rewind FAILED, the move did not hold: %w", err))
	}
	// A run started (e.g. triggered) while the offsets moved may have read the
	// old ones and would commit its range over them.
	if states, err = starter.States(ctx, tc, e.cfg); err != nil {
		return fail(err)
	}
	if busy := starter.BusyReasons(states); len(busy) > 0 {
		return fail(fmt.Errorf("rewind FAILED: the pipeline started during the move, so a run may commit its own range over it: %q; "+
			"pause the schedules, wait for the runs to end, and rewind again", busy))
	}
	for _, p := range slices.Sorted(maps.Keys(offs)) {
		fmt.Fprintf(e.out, "group %s now reads %s[%d] from offset %d\n", group, topic, p, offs[p])
	}
	fmt.Fprintf(e.out, "read back: the group holds these offsets\n")
	if len(paused) > 0 {
		if err := starter.ResumeOnly(ctx, tc, paused, "resumed by orderflow rewind"); err != nil {
			return fmt.Errorf("the offsets are moved and verified, but resuming failed: %w\n%s", err, starter.ResumeHint(paused))
		}
		for _, id := range paused {
			fmt.Fprintf(e.out, "resumed schedule %s\n", id)
		}
	}
	return nil
}

func newRedis(ctx context.Context, e *env) (redis.UniversalClient, error) {
	return workers.OpenRedis(ctx, e.cfg.Redis)
}

func cmdReprocess(ctx context.Context, e *env, args []string) error {
	fs := flags("reprocess", "reprocess -reason unknown_restaurant|product_not_in_menu")
	reason := fs.String("reason", "", "which rejected messages to re-check")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	switch {
	case *reason == "":
		return usagef(fs, "-reason is required")
	case !order.Reason(*reason).Fixable():
		return usagef(fs, "-reason %q: want %s or %s (the other reasons' message bytes themselves are bad)", *reason, order.ReasonUnknownRestaurant, order.ReasonNotInMenu)
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
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *history < 0 || *rate < 0 {
		return usagef(fs, "-history and -per-minute must not be negative")
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

// statusStalled is `orderflow status`'s exit status while the pipeline is
// stalled (health.Judge).
const statusStalled = 3

// errStalled is what cmdStatus returns while the pipeline is stalled.
var errStalled = errors.New("the pipeline is stalled")

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := flags("status", "status\n\n"+
		"Prints the lag and row counts, then the stall verdict: 'pipeline ok: last commit …' or\n"+
		"'STALLED since …' with the shard, the rule (runs keep failing: 2 runs failed for good since\n"+
		"its last commit; records wait: lag > 0 and no commit for 3 SCHEDULE_INTERVALs), the last\n"+
		"error's type, step and message, and the last commit.\n\n"+
		"Exit status: 0 not stalled, 3 stalled, 1 the check failed (PostgreSQL or Kafka did not answer), 2 usage error.")
	if err := parseFlags(e, fs, args); err != nil {
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

// printStatus prints the progress line and the stall verdict; while the
// pipeline is stalled it returns errStalled with exit status statusStalled.
func printStatus(ctx context.Context, e *env, pool *pgxpool.Pool, cl *kgo.Client) error {
	rep, err := health.Take(ctx, e.cfg, pool, kafkaio.Admin(cl))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, rep.String())
	st, err := health.CheckStall(ctx, pool, e.cfg.Pipeline.Shards, e.cfg.Pipeline.ScheduleInterval, rep.Lag)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, st.String())
	for _, sh := range st.Shards[min(1, len(st.Shards)):] {
		fmt.Fprintf(e.out, "  also %s, since %s UTC; last error: %s\n",
			sh.Headline(st.Interval), sh.Since.UTC().Format(time.DateTime), sh.LastError())
	}
	if st.Stalled {
		return &exitError{statusStalled, errStalled}
	}
	return nil
}

func cmdBroker(ctx context.Context, e *env, args []string) error {
	fs := flags("broker", "broker [-addr host:port] [-data dir]")
	addr := fs.String("addr", e.cfg.Kafka.Brokers[0], "listen address")
	dir := fs.String("data", e.cfg.DataDir+"/kafka", "data folder (empty: in memory)")
	if err := parseFlags(e, fs, args); err != nil {
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
