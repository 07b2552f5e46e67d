package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

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
