package observe

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
)

// TemporalMetricsHandler returns the handler to set as
// client.Options.MetricsHandler: it turns the Temporal SDK's metrics into
// Prometheus metrics in Registry. Counters are exposed as <name>_total,
// timers as histograms <name>_seconds, gauges under their own name; the
// SDK's tags become labels. Every call returns a handler over the same
// metrics, so several clients of one process share them.
func TemporalMetricsHandler() client.MetricsHandler { return sdkHandler{m: sdkMetrics} }

// sdkTimerBuckets covers the SDK's latencies: from a fast gRPC call to a
// long poll (about a minute) and long activities.
var sdkTimerBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

type metricKind int

const (
	kindCounter metricKind = iota
	kindGauge
	kindTimer
)

// sdkCollector holds one Prometheus metric per (name, tags) the SDK used.
// It is an unchecked collector (Describe sends nothing) because the SDK
// emits the same name with different tag sets (a client's and a worker's
// handler), which a fixed-label vector cannot hold.
type sdkCollector struct {
	mu     sync.RWMutex
	kinds  map[string]metricKind           // Prometheus name → kind, first use wins
	series map[string]prometheus.Collector // Prometheus name + labels → metric
}

var sdkMetrics = &sdkCollector{kinds: map[string]metricKind{}, series: map[string]prometheus.Collector{}}

// Describe sends nothing: the collector is unchecked.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series the SDK has used.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, s := range c.series {
		s.Collect(ch)
	}
}

// get returns the series of name (already suffixed) with the labels that
// labelKey spells, creating it with mk on first use; nil when name is
// already used by another kind or mk fails (the caller then uses a no-op).
func (c *sdkCollector) get(kind metricKind, name, labelKey string, mk func() prometheus.Collector) prometheus.Collector {
	key := name + "{" + labelKey + "}"
	c.mu.RLock()
	k, named := c.kinds[name]
	s := c.series[key]
	c.mu.RUnlock()
	if named && k != kind {
		return nil
	}
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, named := c.kinds[name]; named && k != kind {
		return nil
	}
	if s := c.series[key]; s != nil {
		return s
	}
	if s = safeMake(mk); s == nil {
		return nil
	}
	c.kinds[name] = kind
	c.series[key] = s
	return s
}

// safeMake calls mk, turning a panic of client_golang (a label name it
// rejects, such as "le" on a histogram) into nil: a metric is not worth
// crashing a worker.
func safeMake(mk func() prometheus.Collector) (c prometheus.Collector) {
	defer func() {
		if recover() != nil {
			c = nil
		}
	}()
	return mk()
}

// sdkHandler implements client.MetricsHandler over sdkCollector.
type sdkHandler struct {
	m        *sdkCollector
	labels   prometheus.Labels // sanitized tag keys → values
	labelKey string            // labels in a canonical order, for lookups
}

// WithTags returns a handler whose metrics carry h's tags and tags (tags win).
func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	labels := make(prometheus.Labels, len(h.labels)+len(tags))
	for k, v := range h.labels {
		labels[k] = v
	}
	for k, v := range tags {
		labels[sanitize(k)] = v
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0xff) // never part of a UTF-8 string
		b.WriteString(labels[k])
		b.WriteByte(0xff)
	}
	return sdkHandler{m: h.m, labels: labels, labelKey: b.String()}
}

// Counter returns the counter <name>_total with the handler's tags.
func (h sdkHandler) Counter(name string) client.MetricsCounter {
	n := sanitize(name)
	if !strings.HasSuffix(n, "_total") {
		n += "_total"
	}
	s := h.m.get(kindCounter, n, h.labelKey, func() prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: "Temporal SDK counter " + name + ".", ConstLabels: h.labels})
	})
	if s == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	c := s.(prometheus.Counter)
	return counterFunc(func(d int64) {
		if d > 0 {
			c.Add(float64(d))
		}
	})
}

// Gauge returns the gauge <name> with the handler's tags.
func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	n := sanitize(name)
	s := h.m.get(kindGauge, n, h.labelKey, func() prometheus.Collector {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK gauge " + name + ".", ConstLabels: h.labels})
	})
	if s == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	g := s.(prometheus.Gauge)
	return gaugeFunc(g.Set)
}

// Timer returns the histogram <name>_seconds with the handler's tags.
func (h sdkHandler) Timer(name string) client.MetricsTimer {
	n := sanitize(name)
	if !strings.HasSuffix(n, "_seconds") {
		n += "_seconds"
	}
	s := h.m.get(kindTimer, n, h.labelKey, func() prometheus.Collector {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: n, Help: "Temporal SDK timer " + name + ", in seconds.", ConstLabels: h.labels, Buckets: sdkTimerBuckets})
	})
	if s == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	o := s.(prometheus.Histogram)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

// sanitize turns a metric or tag name into a valid Prometheus name: every
// character but letters, digits and '_' becomes '_', and a leading digit
// gets a '_' prefix.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// ActivityInterceptor returns a worker interceptor that observes
// ActivityDuration (orderflow_activity_duration_seconds{activity}) for every
// activity execution, failed or not. Set it in worker.Options.Interceptors.
func ActivityInterceptor() interceptor.WorkerInterceptor { return &workerInterceptor{} }

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
}

// InterceptActivity wraps next to time each execution.
func (*workerInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityInbound{}
	i.Next = next
	return i
}

type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

// ExecuteActivity runs the activity and observes how long it took.
func (a *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	start := time.Now()
	res, err := a.Next.ExecuteActivity(ctx, in)
	ActivityDuration.WithLabelValues(activity.GetInfo(ctx).ActivityType.Name).Observe(time.Since(start).Seconds())
	return res, err
}
