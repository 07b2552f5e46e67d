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
func (k *Kill) Interceptor() interceptor.WorkerInterceptor { return &worker{kill: k} }

type worker struct {
	interceptor.WorkerInterceptorBase
	kill *Kill
}

func (w *worker) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &inbound{kill: w.kill}
	a.Next = next
	return a
}

type inbound struct {
	interceptor.ActivityInboundInterceptorBase
	kill *Kill
}

func (a *inbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if activity.GetInfo(ctx).ActivityType.Name != a.kill.Activity {
		return a.Next.ExecuteActivity(ctx, in)
	}
	if !a.kill.After {
		die()
	}
	_, _ = a.Next.ExecuteActivity(ctx, in) // its result is lost with the process
	die()
	return nil, nil
}

func die() {
	fmt.Fprintln(os.Stderr, "faults: killing this worker as", EnvKill, "asks")
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
