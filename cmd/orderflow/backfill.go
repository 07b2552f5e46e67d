package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/starter"
)

func cmdBackfill(ctx context.Context, e *env, args []string) error {
	fs := flags("backfill", `backfill -from 2026-12-03T08:00:00Z [-to 2026-12-03T09:00:00Z] [-overlap BufferAll|AllowAll] [-timeout 1h]

Re-loads, through every layer, the input records whose Kafka timestamps fall
in [from, to), without reading or moving the consumer group's offsets: asks
every shard's schedule for a backfill (the runs whose slices, one schedule
interval each, cover the range) and waits until those runs have finished,
printing progress. Loads are idempotent: records already loaded change
nothing. Exit 1 when a run failed. The last slice must be older than the
schedule's catch-up window (two intervals) for its run to count as a
backfill, so a range ending now waits that long first.`)
	from := fs.String("from", "", "start of the range, RFC 3339 (required)")
	to := fs.String("to", "", "end of the range, RFC 3339 (default: now)")
	overlap := fs.String("overlap", "BufferAll", "overlap policy of the backfill runs: BufferAll (one after another) or AllowAll (at once)")
	timeout := fs.Duration("timeout", time.Hour, "give up waiting after this long (the runs go on)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *from == "" {
		return usagef(fs, "-from is required")
	}
	t1, err := time.Parse(time.RFC3339Nano, *from)
	if err != nil {
		return usagef(fs, "-from: %w", err)
	}
	t2 := time.Now()
	if *to != "" {
		if t2, err = time.Parse(time.RFC3339Nano, *to); err != nil {
			return usagef(fs, "-to: %w", err)
		}
	}
	if !t1.Before(t2) {
		return usagef(fs, "-from %s is not before -to %s", t1.Format(time.RFC3339), t2.Format(time.RFC3339))
	}
	if *timeout <= 0 {
		return usagef(fs, "-timeout %s: must be positive", *timeout)
	}
	var policy enumspb.ScheduleOverlapPolicy
	switch strings.ToLower(*overlap) {
	case "bufferall":
		policy = enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL
	case "allowall":
		policy = enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
	default:
		return usagef(fs, "-overlap %q: want BufferAll or AllowAll", *overlap)
	}
	return withClients(ctx, e, useTemporal, func(c *clients) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return backfill(ctx, e, c.temporal, t1, t2, policy)
	})
}

// backfill asks every shard's schedule for the backfill of [t1, t2) and
// waits for its runs, printing progress.
func backfill(ctx context.Context, e *env, c client.Client, t1, t2 time.Time, policy enumspb.ScheduleOverlapPolicy) error {
	first, last, n := starter.Slices(e.cfg, t1, t2)
	if n == 0 {
		return fmt.Errorf("backfill: empty range [%s, %s)", t1.Format(time.RFC3339), t2.Format(time.RFC3339))
	}
	iv := e.cfg.Pipeline.ScheduleInterval
	fmt.Fprintf(e.out, "backfill of [%s, %s): %d slices of %s per shard (%d shards), nominal times %s to %s\n",
		first.Add(-iv).Format(time.RFC3339), last.Format(time.RFC3339), n, iv, e.cfg.Pipeline.Shards,
		first.Format(time.RFC3339), last.Format(time.RFC3339))
	if wait := time.Until(last.Add(starter.CatchupWindow(e.cfg) + time.Second)); wait > 0 {
		fmt.Fprintf(e.out, "waiting %s until the last slice is older than the catch-up window\n", wait.Round(time.Second))
	}
	res, err := starter.Backfill(ctx, c, e.cfg, starter.BackfillOptions{
		From: t1, To: t2, Overlap: policy,
		Progress: func(p starter.BackfillProgress) {
			fmt.Fprintf(e.out, "%s backfill runs: %d/%d completed, %d failed, %d running\n",
				time.Now().Format(time.TimeOnly), p.Completed, p.Expected, p.Failed, p.Running)
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "backfill done: %d runs completed\n", res.Completed)
	return nil
}
