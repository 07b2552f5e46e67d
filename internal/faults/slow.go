package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// EnvSlow is the environment variable that slows one activity down, for the
// graceful-stop test: ORDERFLOW_FAULT_SLOW=<Activity>:<duration> (e.g.
// LoadDdsVault:8s) makes every attempt of that activity wait the duration,
// heartbeating, before it does its work. Never set it in production.
const EnvSlow = "ORDERFLOW_FAULT_SLOW"

// Slow describes which activity waits, and how long.
type Slow struct {
	Activity string
	Delay    time.Duration
}

// SlowFromEnv reads EnvSlow from the process's environment (ParseSlow).
func SlowFromEnv() (*Slow, error) { return ParseSlow(os.Getenv(EnvSlow)) }

// ParseSlow reads "<Activity>:<duration>" (a Go duration such as 8s); ""
// means no fault.
func ParseSlow(s string) (*Slow, error) {
	if s == "" {
		return nil, nil
	}
	name, delay, ok := strings.Cut(s, ":")
	d, err := time.ParseDuration(delay)
	if !ok || name == "" || err != nil || d <= 0 {
		return nil, fmt.Errorf("%s=%q: want <Activity>:<duration>, e.g. LoadDdsVault:8s", EnvSlow, s)
	}
	return &Slow{Activity: name, Delay: d}, nil
}

// Interceptor returns the worker interceptor that carries out s: it waits
// the delay (heartbeating, so the heartbeat timeout does not fire) and then
// runs the activity; a cancelled context (the worker stopping past
// WORKER_STOP_TIMEOUT, say) ends the wait with its error.
func (s *Slow) Interceptor() interceptor.WorkerInterceptor {
	return onActivity(s.Activity, func(ctx context.Context, run func() (any, error)) (any, error) {
		info := activity.GetInfo(ctx)
		activity.GetLogger(ctx).Warn("faults: slowing this activity down as "+EnvSlow+" asks",
			"activity", info.ActivityType.Name, "attempt", info.Attempt, "delay", s.Delay)
		done := time.After(s.Delay)
		beat := time.NewTicker(500 * time.Millisecond) // the SDK throttles what it sends
		defer beat.Stop()
		for {
			select {
			case <-ctx.Done():
				activity.GetLogger(ctx).Warn("faults: slowed activity cancelled", "activity", info.ActivityType.Name, "attempt", info.Attempt, "err", context.Cause(ctx))
				return nil, ctx.Err()
			case <-beat.C:
				activity.RecordHeartbeat(ctx)
			case <-done:
				return run()
			}
		}
	})
}
