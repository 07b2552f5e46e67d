package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The alerting rules of deploy/monitoring: rules.yaml (the source of
// truth), the same groups in prometheusrule.yaml, and their promtool unit
// tests.

// wantAlerts are the alerts rules.yaml must define, no more, no fewer.
var wantAlerts = []string{
	"OrderflowPipelineStalled", "OrderflowLagGrowing", "OrderflowNoCommit",
	"OrderflowRejectedRateHigh", "OrderflowActivityFailures", "OrderflowVerifyMismatch", "OrderflowStallUnknown",
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
		t.Fatalf("rules.yaml has keys %v, want only groups", slices.Sorted(maps.Keys(plain)))
	}
	if len(pr.Spec) != 1 || pr.Spec["groups"] == nil {
		t.Fatalf("prometheusrule.yaml spec has keys %v, want only groups", slices.Sorted(maps.Keys(pr.Spec)))
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
