package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/starter"
)

// scheduleActions are the words `orderflow schedule` takes.
var scheduleActions = []string{"ensure", "pause", "resume", "trigger", "delete", "describe"}

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
	return withClients(ctx, e, useTemporal, func(cl *clients) error {
		return scheduleAction(ctx, e, cl.temporal, action, *note)
	})
}

// scheduleAction runs one action of `orderflow schedule` (scheduleActions).
func scheduleAction(ctx context.Context, e *env, c client.Client, action, note string) error {
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
		if note == "" {
			note = "paused with orderflow schedule pause"
		}
		return starter.Pause(ctx, c, e.cfg, note)
	case "resume":
		return starter.Resume(ctx, c, e.cfg, note)
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
