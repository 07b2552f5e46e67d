package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// metricKind is what a metric name the rules and the dashboard may use is.
type metricKind int

const (
	gauge metricKind = iota
	counter
	histogram
)

// knownMetrics are the metrics orderflow exposes that the rules and the
// dashboard may use. TestMonitoringKnownMetricsExist checks each against
// the code: orderflow_* are defined in observe/, temporal_* are the Temporal
// SDK's metrics as observe.TemporalMetricsHandler exports them (counters
// <name>_total, timers histograms <name>_seconds).
var knownMetrics = map[string]metricKind{
	"orderflow_input_lag_records":                 gauge,
	"orderflow_batch_records":                     histogram,
	"orderflow_batches_total":                     counter,
	"orderflow_rows_written_total":                counter,
	"orderflow_rejected_messages_total":           counter,
	"orderflow_activity_duration_seconds":         histogram,
	"orderflow_shared_lock_held_seconds_total":    counter,
	"orderflow_last_commit_timestamp_seconds":     gauge,
	"orderflow_pipeline_stalled":                  gauge,
	"orderflow_pipeline_last_error_info":          gauge,
	"orderflow_verify_mismatches":                 gauge,
	"orderflow_verify_rows_checked":               gauge,
	"orderflow_verify_duration_seconds":           gauge,
	"orderflow_verify_last_run_timestamp_seconds": gauge,
	"orderflow_build_info":                        gauge,

	"temporal_activity_execution_latency_seconds":         histogram,
	"temporal_activity_execution_failed_total":            counter,
	"temporal_activity_schedule_to_start_latency_seconds": histogram,
	"temporal_workflow_failed_total":                      counter,
}

// metricRef matches what can be a metric name of orderflow or Temporal in
// PromQL or a series selector.
var metricRef = regexp.MustCompile(`\b(?:orderflow|temporal)_[a-z0-9_]+\b`)

// unknownMetrics returns the metric names in expr that are not in
// knownMetrics (a histogram's _bucket, _sum and _count series are known).
func unknownMetrics(expr string) []string {
	var bad []string
	for _, name := range metricRef.FindAllString(expr, -1) {
		if _, ok := knownMetrics[name]; ok {
			continue
		}
		histogramSeries := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, cut := strings.CutSuffix(name, suffix); cut {
				if kind, known := knownMetrics[base]; known && kind == histogram {
					histogramSeries = true
				}
			}
		}
		if !histogramSeries {
			bad = append(bad, name)
		}
	}
	return bad
}

// TestMonitoringKnownMetricsExist checks knownMetrics against the code:
// each orderflow_* name is defined in observe/, each temporal_* name is a
// Temporal SDK metric of the matching kind.
func TestMonitoringKnownMetricsExist(t *testing.T) {
	var src strings.Builder
	files, err := filepath.Glob("../observe/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(data)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m go.temporal.io/sdk: %v\n%s", err, stderr(err))
	}
	sdk, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, kind := range knownMetrics {
		if strings.HasPrefix(name, "orderflow_") {
			if !strings.Contains(src.String(), `"`+name+`"`) {
				t.Errorf("%s is defined nowhere in observe/", name)
			}
			continue
		}
		base, suffix, want := name, "", ""
		switch kind {
		case counter:
			base, suffix, want = strings.TrimSuffix(name, "_total"), "_total", "Counter"
		case histogram:
			base, suffix, want = strings.TrimSuffix(name, "_seconds"), "_seconds", "Latency"
		}
		if !strings.HasSuffix(name, suffix) || suffix == "" {
			t.Errorf("%s: a Temporal SDK metric is a counter (_total) or a timer (_seconds)", name)
			continue
		}
		re := regexp.MustCompile(`(?m)^\s*(\w*` + want + `)\s*=\s*TemporalMetricsPrefix \+ "` + regexp.QuoteMeta(strings.TrimPrefix(base, "temporal_")) + `"`)
		if !re.Match(sdk) {
			t.Errorf("%s: the Temporal SDK has no %s metric %s", name, strings.ToLower(want), base)
		}
	}
}
