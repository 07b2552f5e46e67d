package faults

import (
	"io"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/interceptor"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/workers"
)

// TestOptions: the armed faults reach the workers' seams (the interceptor
// group, the activities' hook), and a malformed value fails the app.
func TestOptions(t *testing.T) {
	app := func(env map[string]string) (*fx.App, *[]interceptor.WorkerInterceptor, *activities.Hook) {
		var ics []interceptor.WorkerInterceptor
		var hook activities.Hook
		a := fx.New(fx.NopLogger,
			fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil))),
			Options(func(k string) string { return env[k] }),
			fx.Invoke(fx.Annotate(func(got []interceptor.WorkerInterceptor, h activities.Hook) { ics, hook = got, h },
				fx.ParamTags(`group:"`+workers.InterceptorGroup+`"`, `optional:"true"`))),
		)
		return a, &ics, &hook
	}
	a, ics, hook := app(nil)
	if a.Err() != nil || len(*ics) != 0 || *hook != nil {
		t.Errorf("no fault: err %v, %d interceptors, hook %v", a.Err(), len(*ics), *hook != nil)
	}
	a, ics, hook = app(map[string]string{EnvKill: "LoadStg:after", EnvSlow: "LoadDdsVault:1s", EnvPoison: "UpsertCdm:0:7"})
	if a.Err() != nil || len(*ics) != 2 || *hook == nil {
		t.Errorf("every fault: err %v, %d interceptors, hook %v", a.Err(), len(*ics), *hook != nil)
	}
	for _, env := range []map[string]string{
		{EnvKill: "LoadStg"}, {EnvKill: "LoadStage:before"}, {EnvSlow: "LoadStg:soon"}, {EnvSlow: "Nope:1s"}, {EnvPoison: "LoadStg:x:1"},
	} {
		if a, _, _ := app(env); a.Err() == nil {
			t.Errorf("%v: no error", env)
		}
	}
}
