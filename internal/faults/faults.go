// Package faults injects faults into a worker for the fault-tolerance
// tests: with ORDERFLOW_FAULT_KILL=<Activity>:<before|after> a worker kills
// itself with SIGKILL as that activity starts, or once it has done its work
// but before Temporal hears of it; ORDERFLOW_FAULT_SLOW slows an activity
// down (slow.go); ORDERFLOW_FAULT_POISON makes one record fail for good
// (poison.go). Options wires them into a worker process.
//
// Only test code and binaries built with -tags faults (cmd/orderflow's
// faults_on.go; the e2e tests build theirs so) link this package: the
// production binary has no fault code, and refuses to start when an
// ORDERFLOW_FAULT_* variable is set.
package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// EnvKill is the environment variable that arms the crash.
const EnvKill = "ORDERFLOW_FAULT_KILL"

// Kill describes where a worker dies.
type Kill struct {
	Activity string
	After    bool // after the activity's work, before its result is reported
}

// Parse reads "<Activity>:before" or "<Activity>:after"; "" means no fault.
func Parse(s string) (*Kill, error) {
	if s == "" {
		return nil, nil
	}
	name, when, ok := strings.Cut(s, ":")
	if !ok || name == "" || (when != "before" && when != "after") {
		return nil, fmt.Errorf("%s=%q: want <Activity>:before or <Activity>:after", EnvKill, s)
	}
	return &Kill{Activity: name, After: when == "after"}, nil
}

// Interceptor returns the worker interceptor that carries out k.
func (k *Kill) Interceptor() interceptor.WorkerInterceptor {
	return onActivity(k.Activity, func(_ context.Context, run func() (any, error)) (any, error) {
		if !k.After {
			die()
		}
		_, _ = run() // its result is lost with the process
		die()
		return nil, nil
	})
}

// onActivity returns a worker interceptor that calls do in place of every
// attempt of the activity named name; do runs the activity with run.
// Other activities run untouched.
func onActivity(name string, do func(ctx context.Context, run func() (any, error)) (any, error)) interceptor.WorkerInterceptor {
	return &hookWorker{name: name, do: do}
}

type hookWorker struct {
	interceptor.WorkerInterceptorBase
	name string
	do   func(ctx context.Context, run func() (any, error)) (any, error)
}

func (w *hookWorker) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &hookInbound{w: w}
	a.Next = next
	return a
}

type hookInbound struct {
	interceptor.ActivityInboundInterceptorBase
	w *hookWorker
}

func (a *hookInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	run := func() (any, error) { return a.Next.ExecuteActivity(ctx, in) }
	if activity.GetInfo(ctx).ActivityType.Name != a.w.name {
		return run()
	}
	return a.w.do(ctx, run)
}

func die() {
	fmt.Fprintln(os.Stderr, "faults: killing this worker as", EnvKill, "asks")
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
