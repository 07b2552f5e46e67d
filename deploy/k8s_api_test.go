package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// checkAPI checks the dashboard/API Deployment and its Service.
func checkAPI(t *testing.T, r rendered, configMap string) {
	t.Helper()
	apis := r.component("api")
	if len(apis) != 1 {
		t.Fatalf("%d Deployments with %s=api, want 1", len(apis), componentLabel)
	}
	d := apis[0]
	what := "Deployment " + d.Name
	spec := d.Spec.Template.Spec
	checkSpread(t, d)
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", what, len(spec.Containers))
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Args, []string{"dashboard"}) || len(c.Command) > 0 {
		t.Errorf("%s: command %v args %v, want the image's entrypoint with args [dashboard]", what, c.Command, c.Args)
	}
	if v, _ := envValue(c, "DASHBOARD_ADDR"); v != fmt.Sprintf("0.0.0.0:%d", apiPort) {
		t.Errorf("%s: DASHBOARD_ADDR=%q, want 0.0.0.0:%d", what, v, apiPort)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" && p.ContainerPort == apiPort }) {
		t.Errorf("%s: ports %v, want http %d", what, c.Ports, apiPort)
	}
	// The reader login, and never the workers' or the migrate login.
	if s, k := secretKeyOf(c, "PG_DSN"); s != readerSecret || k != readerDSNKey {
		t.Errorf("%s: PG_DSN from Secret %q key %q, want %s key %s (the read-only login)", what, s, k, readerSecret, readerDSNKey)
	}
	checkEnvFrom(t, what, c, configMap, false)
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secretName && !strings.HasPrefix(e.Name, "KAFKA_SASL_") {
			t.Errorf("%s: %s from %s: the API needs only the Kafka credentials from it", what, e.Name, secretName)
		}
	}
	if _, ok := envVar(c, "WORKER_ROLES"); ok {
		t.Errorf("%s sets WORKER_ROLES", what)
	}
	checkProbe(t, what+" readiness", c, c.ReadinessProbe, "/readyz", apiPort)
	checkProbe(t, what+" liveness", c, c.LivenessProbe, "/healthz", apiPort)

	svc := r.service(t, "orderflow-api")
	for _, other := range r.deployments {
		selected := selects(svc, other)
		if selected != (other.Name == d.Name) {
			t.Errorf("Service %s selects Deployment %s: %v", svc.Name, other.Name, selected)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || containerPort(c, svc.Spec.Ports[0].TargetPort) != apiPort {
		t.Errorf("Service %s ports %v, want one named http to the container's %d", svc.Name, svc.Spec.Ports, apiPort)
	}
}
