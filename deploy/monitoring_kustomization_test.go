package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	kjson "sigs.k8s.io/json"
)

// podMonitor is the part of a PodMonitor (monitoring.coreos.com/v1) the
// tests read.
type podMonitor struct {
	objectHeader
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

// TestMonitoringKustomization renders deploy/monitoring: the PodMonitors
// select the base's worker pods by their labels on the port named health
// (and the API pods on http), the PrometheusRule is there, and the
// dashboard is a ConfigMap labelled for Grafana's sidecar.
func TestMonitoringKustomization(t *testing.T) {
	var monitors []podMonitor
	var rules, dashboards int
	for _, doc := range kustomizeDocs(t, monitoringDir) {
		var tm struct {
			objectHeader
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
