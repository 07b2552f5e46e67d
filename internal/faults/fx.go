package faults

import (
	"fmt"
	"log/slog"
	"slices"

	"go.temporal.io/sdk/interceptor"
	"go.uber.org/fx"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/workers"
)

// Options arms the faults that getenv's EnvKill, EnvSlow and EnvPoison ask
// for, as fx options for workers.App: the kill and slow interceptors join
// the workers' interceptors (workers.InterceptorGroup), the poison fault
// becomes the activities' hook, and each armed fault is logged as a
// warning. A malformed value fails the app. Only the tests use it: the
// orderflow binary links this package only when built with -tags faults.
func Options(getenv func(string) string) fx.Option {
	kill, err := Parse(getenv(EnvKill))
	if err == nil && kill != nil && !slices.Contains(activities.Names, kill.Activity) {
		err = fmt.Errorf("%s: no activity is named %q", EnvKill, kill.Activity)
	}
	if err != nil {
		return fx.Error(err)
	}
	slow, err := ParseSlow(getenv(EnvSlow))
	if err == nil && slow != nil && !slices.Contains(activities.Names, slow.Activity) {
		err = fmt.Errorf("%s: no activity is named %q", EnvSlow, slow.Activity)
	}
	if err != nil {
		return fx.Error(err)
	}
	poison, err := ParsePoison(getenv(EnvPoison))
	if err != nil {
		return fx.Error(err)
	}
	var ics []interceptor.WorkerInterceptor
	if kill != nil {
		ics = append(ics, kill.Interceptor())
	}
	if slow != nil {
		ics = append(ics, slow.Interceptor())
	}
	opts := []fx.Option{
		fx.Provide(fx.Annotate(func() []interceptor.WorkerInterceptor { return ics },
			fx.ResultTags(`group:"`+workers.InterceptorGroup+`,flatten"`))),
		fx.Invoke(func(log *slog.Logger) {
			if kill != nil {
				log.Warn("fault injection armed: this worker will kill itself", "activity", kill.Activity, "after", kill.After)
			}
			if slow != nil {
				log.Warn("fault injection armed: an activity of this worker will be slow", "activity", slow.Activity, "delay", slow.Delay)
			}
			if poison != nil {
				log.Warn("fault injection armed: a record will fail for good", "activity", poison.Activity, "partition", poison.Partition, "offset", poison.Offset)
			}
		}),
	}
	if poison != nil {
		opts = append(opts, fx.Supply(poison.Hook()))
	}
	return fx.Options(opts...)
}
