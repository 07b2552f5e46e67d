package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/starter"
)

// rewindPlan is what `orderflow rewind` was asked to do.
type rewindPlan struct {
	toTime bool      // to each partition's first record at or after at, else to offset
	at     time.Time // with toTime
	offset int64     // without toTime
	pause  bool      // pause the schedules and wait up to wait for the runs in flight
	wait   time.Duration
}

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
	plan := rewindPlan{toTime: set["time"], at: t, offset: *offset, pause: *pause, wait: *wait}
	return withClients(ctx, e, useKafka|useTemporal, func(c *clients) error {
		return rewind(ctx, e, c.temporal, kafkaio.Admin(c.kafka), plan)
	})
}

// rewind moves the group's offsets as plan says; see cmdRewind.
func rewind(ctx context.Context, e *env, tc client.Client, adm *kadm.Client, plan rewindPlan) error {
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
	if !plan.pause {
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
		_, err = starter.WaitIdle(ctx, tc, e.cfg, plan.wait, 5*time.Second, func(busy []string, waited time.Duration) {
			fmt.Fprintf(e.out, "waiting for the pipeline to stop (%s of at most %s): %q\n", waited.Round(time.Second), plan.wait, busy)
		})
		if err != nil {
			return fail(fmt.Errorf("rewind: %w; no offset moved", err))
		}
	}

	var offs map[int32]int64
	if plan.toTime {
		offs, err = kafkaio.RewindTo(ctx, adm, group, topic, plan.at)
	} else {
		offs, err = kafkaio.RewindOffsets(ctx, adm, group, topic, plan.offset)
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
