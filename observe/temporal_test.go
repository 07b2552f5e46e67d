package observe_test

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/orderflow/orderflow/observe"
)

// family gathers observe.Registry and returns the family called name.
func family(t *testing.T, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := observe.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestTemporalMetricsHandlerExportsCountersGaugesAndTimers(t *testing.T) {
	h := observe.TemporalMetricsHandler().WithTags(map[string]string{"namespace": "ns1", "task-queue": "q1"})
	wh := h.WithTags(map[string]string{"namespace": "ns2", "worker_type": "ActivityWorker"})

	h.Counter("temporal_unit_requests").Inc(2)
	h.Counter("temporal_unit_requests").Inc(3)
	wh.Counter("temporal_unit_requests").Inc(1)
	wh.Counter("temporal_unit_requests").Inc(-5) // a counter never goes down
	h.Gauge("temporal_unit.slots").Update(4)
	h.Gauge("temporal_unit.slots").Update(7)
	h.Timer("temporal_unit_latency").Record(250 * time.Millisecond)
	h.Timer("temporal_unit_latency").Record(2 * time.Second)
	// A name reused with another kind must not break the scrape.
	h.Gauge("temporal_unit_latency_seconds").Update(1)

	c := family(t, "temporal_unit_requests_total")
	if c == nil || c.GetType() != dto.MetricType_COUNTER || len(c.GetMetric()) != 2 {
		t.Fatalf("temporal_unit_requests_total: %v", c)
	}
	for _, m := range c.GetMetric() {
		l := labels(m)
		switch l["namespace"] {
		case "ns1":
			if m.GetCounter().GetValue() != 5 || l["task_queue"] != "q1" || l["worker_type"] != "" {
				t.Errorf("client series: %v = %v", l, m.GetCounter().GetValue())
			}
		case "ns2": // WithTags overrides namespace and keeps task_queue
			if m.GetCounter().GetValue() != 1 || l["task_queue"] != "q1" || l["worker_type"] != "ActivityWorker" {
				t.Errorf("worker series: %v = %v", l, m.GetCounter().GetValue())
			}
		default:
			t.Errorf("unexpected series %v", l)
		}
	}

	g := family(t, "temporal_unit_slots")
	if g == nil || g.GetType() != dto.MetricType_GAUGE || g.GetMetric()[0].GetGauge().GetValue() != 7 {
		t.Errorf("temporal_unit_slots: %v", g)
	}

	tm := family(t, "temporal_unit_latency_seconds")
	if tm == nil || tm.GetType() != dto.MetricType_HISTOGRAM || len(tm.GetMetric()) != 1 {
		t.Fatalf("temporal_unit_latency_seconds: %v", tm)
	}
	hist := tm.GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 2 || hist.GetSampleSum() != 2.25 {
		t.Errorf("timer: count %d sum %v, want 2 and 2.25", hist.GetSampleCount(), hist.GetSampleSum())
	}
}

func TestBatchCommittedIgnoresIdleRuns(t *testing.T) {
	before := family(t, "orderflow_batch_records").GetMetric()[0].GetHistogram().GetSampleCount()
	observe.BatchCommitted(97, 0)
	observe.BatchCommitted(97, 100)
	observe.BatchCommitted(97, 5)
	var batches float64
	for _, m := range family(t, "orderflow_batches_total").GetMetric() {
		if labels(m)["shard"] == "97" {
			batches = m.GetCounter().GetValue()
		}
	}
	if batches != 2 {
		t.Errorf("orderflow_batches_total{shard=97} = %v, want 2", batches)
	}
	if after := family(t, "orderflow_batch_records").GetMetric()[0].GetHistogram().GetSampleCount(); after-before != 2 {
		t.Errorf("orderflow_batch_records gained %d observations, want 2", after-before)
	}
}

func TestTemporalMetricsHandlerSurvivesRejectedLabels(t *testing.T) {
	// "le" is reserved on histograms: the timer becomes a no-op, not a panic.
	h := observe.TemporalMetricsHandler().WithTags(map[string]string{"le": "x"})
	h.Timer("temporal_unit_reserved").Record(time.Second)
	h.Counter("temporal_unit_reserved_ok").Inc(1)
	if f := family(t, "temporal_unit_reserved_seconds"); f != nil {
		t.Errorf("a histogram with an le label was exported: %v", f)
	}
	if f := family(t, "temporal_unit_reserved_ok_total"); f == nil || f.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("temporal_unit_reserved_ok_total: %v", f)
	}
}
