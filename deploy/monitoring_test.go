package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The monitoring of deploy/monitoring: alerting rules (rules.yaml, the
// source of truth, and the same groups in prometheusrule.yaml), their
// promtool unit tests, the PodMonitors and the Grafana dashboard.

const monitoringDir = "monitoring"

// wantAlerts are the alerts rules.yaml must define, no more, no fewer.
var wantAlerts = []string{
	"OrderflowPipelineStalled", "OrderflowLagGrowing", "OrderflowNoCommit",
	"OrderflowRejectedRateHigh", "OrderflowActivityFailures", "OrderflowVerifyMismatch", "OrderflowStallUnknown",
}

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

// promtool returns promtool's path, failing the test when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): `make test` installs it (scripts/ensure-services.sh --test-tools: apt-get install prometheus); or install Debian's prometheus package yourself", err)
	}
	return p
}

// runPromtool runs promtool with args from the repository root.
func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ruleTests is a promtool unit test file.
type ruleTests struct {
	RuleFiles          []string `json:"rule_files"`
	EvaluationInterval string   `json:"evaluation_interval"`
	Tests              []struct {
		Interval    string `json:"interval"`
		InputSeries []struct {
			Series string `json:"series"`
			Values string `json:"values"`
		} `json:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string `json:"eval_time"`
			Alertname string `json:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `json:"exp_labels"`
				ExpAnnotations map[string]string `json:"exp_annotations"`
			} `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// readYAML decodes a YAML file strictly into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestMonitoringRules runs `promtool check rules` and `promtool test rules`
// on the alerting rules.
func TestMonitoringRules(t *testing.T) {
	out := runPromtool(t, "check", "rules", "deploy/monitoring/rules.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	out = runPromtool(t, "test", "rules", "deploy/monitoring/rules_test.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}

// TestMonitoringRulesCoverage checks the alerts of rules.yaml: exactly
// wantAlerts, each with a severity, a summary, a description and a runbook
// in docs/DEPLOY.md, using only known metrics, and each fired by at least
// one unit test of rules_test.yaml.
func TestMonitoringRulesCoverage(t *testing.T) {
	var rf ruleFile
	readYAML(t, filepath.Join(monitoringDir, "rules.yaml"), &rf)
	var tests ruleTests
	readYAML(t, filepath.Join(monitoringDir, "rules_test.yaml"), &tests)
	anchors := markdownAnchors(t, "../docs/DEPLOY.md")

	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			const runbooks = "https://github.com/orderflow/orderflow/blob/main/docs/DEPLOY.md#"
			if anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbooks); !ok {
				t.Errorf("%s: runbook_url %q is not under %s", r.Alert, r.Annotations["runbook_url"], runbooks)
			} else if !anchors[anchor] {
				t.Errorf("%s: runbook_url anchor #%s is no heading of docs/DEPLOY.md", r.Alert, anchor)
			}
			text := r.Expr
			for _, v := range r.Annotations {
				text += "\n" + v
			}
			if bad := unknownMetrics(text); len(bad) > 0 {
				t.Errorf("%s uses metrics orderflow does not export: %v", r.Alert, bad)
			}
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(alerts)), slices.Sorted(slices.Values(wantAlerts))) {
		t.Errorf("rules.yaml alerts %v, want %v", alerts, wantAlerts)
	}

	if !slices.Contains(tests.RuleFiles, "rules.yaml") {
		t.Errorf("rules_test.yaml rule_files %v lacks rules.yaml", tests.RuleFiles)
	}
	fired := map[string]int{}
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			if bad := unknownMetrics(s.Series); len(bad) > 0 {
				t.Errorf("rules_test.yaml feeds series orderflow does not export: %v", bad)
			}
		}
		for _, at := range tc.AlertRuleTest {
			if !slices.Contains(alerts, at.Alertname) {
				t.Errorf("rules_test.yaml tests %s, which rules.yaml does not define", at.Alertname)
			}
			if len(at.ExpAlerts) > 0 {
				fired[at.Alertname]++
			}
		}
	}
	for _, a := range alerts {
		if fired[a] == 0 {
			t.Errorf("no unit test in rules_test.yaml fires %s", a)
		}
	}
}

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, punctuation dropped, spaces as dashes.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestMonitoringPrometheusRule checks that prometheusrule.yaml is a
// PrometheusRule whose spec.groups are rules.yaml's groups, identical.
func TestMonitoringPrometheusRule(t *testing.T) {
	var plain map[string]any
	readYAML(t, filepath.Join(monitoringDir, "rules.yaml"), &plain)
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	readYAML(t, filepath.Join(monitoringDir, "prometheusrule.yaml"), &pr)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("prometheusrule.yaml is a %s %s, want monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind)
	}
	if len(plain) != 1 || plain["groups"] == nil {
		t.Fatalf("rules.yaml has keys %v, want only groups", slices.Sorted(mapsKeys(plain)))
	}
	if len(pr.Spec) != 1 || pr.Spec["groups"] == nil {
		t.Fatalf("prometheusrule.yaml spec has keys %v, want only groups", slices.Sorted(mapsKeys(pr.Spec)))
	}
	if !reflect.DeepEqual(plain["groups"], pr.Spec["groups"]) {
		// Name the first rule that differs.
		var want, got ruleFile
		readYAML(t, filepath.Join(monitoringDir, "rules.yaml"), &want)
		data, _ := json.Marshal(pr.Spec)
		_ = json.Unmarshal(data, &got)
		diff := fmt.Sprintf("%d groups, want %d", len(got.Groups), len(want.Groups))
		for i := range min(len(want.Groups), len(got.Groups)) {
			w, g := want.Groups[i], got.Groups[i]
			if len(w.Rules) != len(g.Rules) || w.Name != g.Name || w.Interval != g.Interval {
				diff = fmt.Sprintf("group %d: %s with %d rules, want %s with %d", i, g.Name, len(g.Rules), w.Name, len(w.Rules))
				break
			}
			j := 0
			for j < len(w.Rules) && reflect.DeepEqual(w.Rules[j], g.Rules[j]) {
				j++
			}
			if j < len(w.Rules) {
				diff = fmt.Sprintf("group %s, rule %d:\n%+v\nwant\n%+v", w.Name, j, g.Rules[j], w.Rules[j])
				break
			}
		}
		t.Errorf("prometheusrule.yaml spec.groups differ from rules.yaml groups (%s); regenerate them as its header says", diff)
	}
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// grafanaPanel is the part of a Grafana panel the tests read.
type grafanaPanel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource *grafanaDS `json:"datasource"`
	GridPos    struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		Datasource *grafanaDS `json:"datasource"`
		Expr       string     `json:"expr"`
		RefID      string     `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a row's collapsed panels
}

type grafanaVar struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaPanelTypes are the panel types built into Grafana the dashboard
// may use (no plugins to install).
var grafanaPanelTypes = []string{"row", "stat", "timeseries", "table", "gauge", "bargauge", "text"}

// TestMonitoringGrafanaDashboard checks grafana-dashboard.json: it parses,
// has a Prometheus datasource variable every query uses, only built-in
// panel types, and every query is valid PromQL (promtool) over metrics
// orderflow exports, covering the pipeline's metrics.
func TestMonitoringGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []grafanaVar `json:"list"`
		} `json:"templating"`
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both", dash.UID, dash.Title)
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v grafanaVar) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("no datasource variable (name datasource, type datasource, query prometheus): %+v", dash.Templating.List)
	}

	var panels []grafanaPanel
	for _, p := range dash.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if !slices.Contains(grafanaPanelTypes, p.Type) {
			t.Errorf("panel %q: type %q is not built into Grafana (%v)", p.Title, p.Type, grafanaPanelTypes)
		}
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		for _, q := range p.Targets {
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: datasource %+v, want uid ${datasource}", p.Title, q.RefID, q.Datasource)
			}
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q query %s: no expr", p.Title, q.RefID)
				continue
			}
			if bad := unknownMetrics(q.Expr); len(bad) > 0 {
				t.Errorf("panel %q query %s uses metrics orderflow does not export: %v", p.Title, q.RefID, bad)
			}
			if !metricRef.MatchString(q.Expr) {
				t.Errorf("panel %q query %s reads no orderflow or Temporal metric: %s", p.Title, q.RefID, q.Expr)
			}
			exprs = append(exprs, q.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range []string{
		"orderflow_input_lag_records", "orderflow_batches_total", "orderflow_batch_records_sum",
		"orderflow_rows_written_total", "orderflow_rejected_messages_total",
		"orderflow_last_commit_timestamp_seconds", "orderflow_pipeline_stalled", "orderflow_verify_mismatches",
		"temporal_activity_execution_latency_seconds_bucket", "temporal_activity_execution_failed_total",
		"orderflow_build_info",
	} {
		if !strings.Contains(all, m) {
			t.Errorf("no panel shows %s", m)
		}
	}

	// Every query is valid PromQL: promtool checks them as recording rules,
	// Grafana's interval variables replaced by durations.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	g := ruleGroup{Name: "grafana"}
	for i, e := range exprs {
		g.Rules = append(g.Rules, rule{Record: fmt.Sprintf("grafana:query_%d", i), Expr: vars.Replace(e)})
	}
	out, err := yaml.Marshal(ruleFile{Groups: []ruleGroup{g}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "grafana-queries.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", path)
}

// podMonitor is the part of a PodMonitor (monitoring.coreos.com/v1) the
// tests read.
type podMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		PodTargetLabels     []string `json:"podTargetLabels"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// kustomizeDocs renders dir with kustomize and returns its documents as JSON.
func kustomizeDocs(t *testing.T, dir string) [][]byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, j)
	}
	return docs
}

// TestMonitoringKustomization renders deploy/monitoring: the PodMonitors
// select the base's worker pods by their labels on the port named health
// (and the API pods on http), the PrometheusRule is there, and the
// dashboard is a ConfigMap labelled for Grafana's sidecar.
func TestMonitoringKustomization(t *testing.T) {
	var monitors []podMonitor
	var rules, dashboards int
	for _, doc := range kustomizeDocs(t, monitoringDir) {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Data map[string]string `json:"data"`
		}
		if err := json.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		switch tm.Kind {
		case "PodMonitor":
			var pm podMonitor
			if strict, err := kjson.UnmarshalStrict(doc, &pm, kjson.DisallowUnknownFields); err != nil || len(strict) > 0 {
				t.Errorf("PodMonitor %s: %v %v", tm.Metadata.Name, err, strict)
			}
			if pm.APIVersion != "monitoring.coreos.com/v1" {
				t.Errorf("PodMonitor %s: apiVersion %s", pm.Metadata.Name, pm.APIVersion)
			}
			monitors = append(monitors, pm)
		case "PrometheusRule":
			rules++
			if tm.APIVersion != "monitoring.coreos.com/v1" {
				t.Errorf("PrometheusRule %s: apiVersion %s", tm.Metadata.Name, tm.APIVersion)
			}
		case "ConfigMap":
			dashboards++
			if tm.Metadata.Labels["grafana_dashboard"] != "1" {
				t.Errorf("ConfigMap %s: labels %v, want grafana_dashboard: \"1\"", tm.Metadata.Name, tm.Metadata.Labels)
			}
			want, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(tm.Data) != 1 {
				t.Errorf("ConfigMap %s: %d keys, want the dashboard only", tm.Metadata.Name, len(tm.Data))
			}
			for k, v := range tm.Data {
				if !strings.HasSuffix(k, ".json") || !bytes.Equal([]byte(v), want) {
					t.Errorf("ConfigMap %s: key %s is not grafana-dashboard.json", tm.Metadata.Name, k)
				}
			}
		default:
			t.Errorf("deploy/monitoring renders a %s %s", tm.Kind, tm.Metadata.Name)
		}
	}
	if len(monitors) != 2 || rules != 1 || dashboards != 1 {
		t.Fatalf("deploy/monitoring renders %d PodMonitors, %d PrometheusRules, %d dashboards; want 2, 1, 1", len(monitors), rules, dashboards)
	}

	// Which monitor scrapes a pod template, and on which ports.
	scrapes := func(labels map[string]string, ports []string) (names []string) {
		for _, pm := range monitors {
			sel := pm.Spec.Selector.MatchLabels
			if len(sel) == 0 {
				continue
			}
			match := true
			for k, v := range sel {
				if labels[k] != v {
					match = false
				}
			}
			if !match {
				continue
			}
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				if slices.Contains(ports, ep.Port) && ep.Path == "/metrics" {
					names = append(names, pm.Metadata.Name)
				}
			}
		}
		return names
	}
	var workers, apis int
	for _, doc := range kustomizeDocs(t, "k8s/base") {
		var d appsv1.Deployment
		if err := json.Unmarshal(doc, &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		labels := d.Spec.Template.Labels
		var ports []string
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				ports = append(ports, p.Name)
			}
		}
		switch labels["app.kubernetes.io/component"] {
		case "worker":
			workers++
			if !slices.Contains(ports, "health") {
				t.Errorf("worker %s has no port named health: %v", d.Name, ports)
			}
			if got := scrapes(labels, []string{"health"}); len(got) != 1 {
				t.Errorf("worker %s (pod labels %v) is scraped on /metrics of port health by %v, want one PodMonitor", d.Name, labels, got)
			}
		case "api":
			apis++
			if got := scrapes(labels, []string{"http"}); len(got) != 1 || !slices.Contains(ports, "http") {
				t.Errorf("API %s (pod labels %v, ports %v) is scraped on /metrics of port http by %v, want one PodMonitor", d.Name, labels, ports, got)
			}
		}
	}
	if workers != len(roles) {
		t.Errorf("deploy/k8s/base has %d worker Deployments, want %d", workers, len(roles))
	}
	if apis == 0 {
		t.Log("deploy/k8s/base has no API Deployment (app.kubernetes.io/component: api) yet: its PodMonitor is unchecked")
	}
	// The API PodMonitor selects what its Deployment will carry.
	if !slices.ContainsFunc(monitors, func(pm podMonitor) bool {
		return pm.Spec.Selector.MatchLabels["app.kubernetes.io/component"] == "api" &&
			pm.Spec.Selector.MatchLabels["app.kubernetes.io/name"] == "orderflow" &&
			len(pm.Spec.PodMetricsEndpoints) == 1 && pm.Spec.PodMetricsEndpoints[0].Port == "http"
	}) {
		t.Error("no PodMonitor scrapes the API pods (app.kubernetes.io/component: api) on port http")
	}
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
		t.Fatalf("go list -m go.temporal.io/sdk: %v\n%s", err, exitStderr(err))
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

// TestBuildInfoStamping checks that `make build` and deploy/Dockerfile
// stamp internal/buildinfo's Version and Commit with -ldflags -X, and that
// the image carries the OCI labels.
func TestBuildInfoStamping(t *testing.T) {
	const pkg = "github.com/orderflow/orderflow/internal/buildinfo"
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make not found: %v", err)
	}
	cmd := exec.Command("make", "-n", "build", "VERSION=v1.2.3-test", "COMMIT=abc1234")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, exitStderr(err))
	}
	if want := `-ldflags "-X ` + pkg + `.Version=v1.2.3-test -X ` + pkg + `.Commit=abc1234"`; !strings.Contains(string(out), want) {
		t.Errorf("make -n build runs\n%s\nwant it to pass %s", out, want)
	}
	cmd = exec.Command("make", "-n", "build")
	cmd.Dir = ".."
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("make -n build: %v\n%s", err, exitStderr(err))
	}
	if m := regexp.MustCompile(`-X ` + regexp.QuoteMeta(pkg) + `\.Version=(\S+) -X ` + regexp.QuoteMeta(pkg) + `\.Commit=(\S+?)"`).FindStringSubmatch(string(out)); m == nil {
		t.Errorf("make -n build (VERSION and COMMIT from git) runs\n%s\nwithout stamping both", out)
	}

	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ARG VERSION(=\S*)?$`),
		regexp.MustCompile(`(?m)^ARG COMMIT(=\S*)?$`),
		regexp.MustCompile(`(?m)^ARG CREATED(=\S*)?$`),
		regexp.MustCompile(`CGO_ENABLED=0`),
		regexp.MustCompile(`-ldflags "-s -w -X ` + regexp.QuoteMeta(pkg) + `\.Version=\$\{VERSION\} -X ` + regexp.QuoteMeta(pkg) + `\.Commit=\$\{COMMIT\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.version="\$\{VERSION\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.revision="\$\{COMMIT\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.created="\$\{CREATED\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.source="https://github\.com/orderflow/orderflow"`),
		regexp.MustCompile(`org\.opencontainers\.image\.title="orderflow"`),
	} {
		if !want.MatchString(text) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	// The runtime stage declares the ARGs its LABEL uses (ARGs do not
	// cross stages).
	if i := strings.LastIndex(text, "\nFROM "); i < 0 || !strings.Contains(text[i:], "ARG VERSION") || !strings.Contains(text[i:], "ARG COMMIT") {
		t.Error("the runtime stage does not declare ARG VERSION and ARG COMMIT for its labels")
	}
}

// exitStderr is what a failed command wrote to stderr, if it was captured.
func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
