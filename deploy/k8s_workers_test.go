package deploy

import (
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orderflow/orderflow/config"
)

// checkWorkers checks one Deployment per role and the metrics Service.
func checkWorkers(t *testing.T, r rendered, configMap string, cfg config.Config) {
	t.Helper()
	byRole := map[string]appsv1.Deployment{}
	for _, d := range r.component("worker") {
		role := roleOf(t, d)
		if _, dup := byRole[role]; dup {
			t.Errorf("two Deployments for role %s", role)
		}
		byRole[role] = d
		what := "Deployment " + d.Name
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || d.Spec.Selector.MatchLabels[roleLabel] != role {
			t.Errorf("%s: selector %v must select %s=%s", what, d.Spec.Selector, roleLabel, role)
		} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not match its pod labels %v", what, d.Spec.Selector, d.Spec.Template.Labels)
		}
		if d.Labels[roleLabel] != role {
			t.Errorf("%s: metadata label %s=%q, want %s", what, roleLabel, d.Labels[roleLabel], role)
		}
		checkSpread(t, d)
		spec := d.Spec.Template.Spec
		// The grace period covers the drain (WORKER_STOP_TIMEOUT) and the
		// rest of the stop; else SIGKILL cuts running activities short.
		grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		if stop := cfg.Temporal.WorkerStopTimeout; grace <= stop || grace < stop+workerStopSlack {
			t.Errorf("%s: terminationGracePeriodSeconds %s, want more than WORKER_STOP_TIMEOUT %s and at least %s with the clients' shutdown", what, grace, stop, stop+workerStopSlack)
		}
		if len(spec.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", what, len(spec.Containers))
			continue
		}
		c := spec.Containers[0]
		if !slices.Equal(c.Args, []string{"worker"}) || len(c.Command) > 0 {
			t.Errorf("%s: command %v args %v, want the image's entrypoint with args [worker]", what, c.Command, c.Args)
		}
		if v, ok := envValue(c, "WORKER_ROLES"); !ok || v != role {
			t.Errorf("%s: WORKER_ROLES=%q, want %q", what, v, role)
		}
		if _, ok := envVar(c, "PG_DSN"); ok {
			t.Errorf("%s: sets PG_DSN itself; the workers' login comes from %s", what, secretName)
		}
		checkEnvFrom(t, what, c, configMap, true)
		checkTemporalTLSVolume(t, what, spec, c)
		checkProbe(t, what+" liveness", c, c.LivenessProbe, "/healthz", healthPort)
		checkProbe(t, what+" readiness", c, c.ReadinessProbe, "/readyz", healthPort)
		if c.StartupProbe != nil {
			checkProbe(t, what+" startup", c, c.StartupProbe, "/healthz", healthPort)
		}
		if got, want := c.Resources.Limits.Memory(), resource.MustParse(memLimits[role]); got.Cmp(want) != 0 {
			t.Errorf("%s: memory limit %s, want %s", what, got, memLimits[role])
		}
		if got, want := c.Resources.Requests.Cpu(), resource.MustParse("50m"); got.Cmp(want) != 0 {
			t.Errorf("%s: cpu request %s, want 50m", what, got)
		}
		if got, want := c.Resources.Requests.Memory(), resource.MustParse("64Mi"); got.Cmp(want) != 0 {
			t.Errorf("%s: memory request %s, want 64Mi", what, got)
		}
	}
	for _, role := range roles {
		if _, ok := byRole[role]; !ok {
			t.Errorf("no Deployment for role %s", role)
		}
	}

	// The metrics Service reaches every worker's health port, and only workers.
	svc := r.service(t, "orderflow-workers")
	for _, d := range r.deployments {
		selected := selects(svc, d)
		if worker := d.Spec.Template.Labels[componentLabel] == "worker"; selected != worker {
			t.Errorf("Service %s selects Deployment %s: %v, want %v", svc.Name, d.Name, selected, worker)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != healthPort {
		t.Errorf("Service %s ports %v, want %d", svc.Name, svc.Spec.Ports, healthPort)
	}
}

// checkSpread checks a Deployment spreads its pods over nodes (a hard rule)
// and zones (a soft one), counting only its own pods of the same revision.
func checkSpread(t *testing.T, d appsv1.Deployment) {
	t.Helper()
	want := map[string]corev1.UnsatisfiableConstraintAction{
		"kubernetes.io/hostname":      corev1.DoNotSchedule,
		"topology.kubernetes.io/zone": corev1.ScheduleAnyway,
	}
	got := map[string]bool{}
	for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		what := fmt.Sprintf("Deployment %s: topologySpreadConstraint on %s", d.Name, c.TopologyKey)
		action, ok := want[c.TopologyKey]
		if !ok {
			t.Errorf("%s: unexpected key", what)
			continue
		}
		got[c.TopologyKey] = true
		if c.WhenUnsatisfiable != action || c.MaxSkew != 1 {
			t.Errorf("%s: %s with maxSkew %d, want %s with maxSkew 1", what, c.WhenUnsatisfiable, c.MaxSkew, action)
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not select the Deployment's own pods", what, c.LabelSelector)
		}
		if !slices.Equal(c.MatchLabelKeys, []string{"pod-template-hash"}) {
			t.Errorf("%s: matchLabelKeys %v, want [pod-template-hash] (spread each revision, not the rollout's mix)", what, c.MatchLabelKeys)
		}
		if action == corev1.DoNotSchedule && (c.NodeTaintsPolicy == nil || *c.NodeTaintsPolicy != corev1.NodeInclusionPolicyHonor) {
			t.Errorf("%s: a hard rule must honor taints, or a tainted or cordoned node would count and block scheduling", what)
		}
	}
	for key := range want {
		if !got[key] {
			t.Errorf("Deployment %s: no topologySpreadConstraint on %s", d.Name, key)
		}
	}
}

// checkEnvFrom checks a container reads the generated ConfigMap and the
// runtime Secret (or, with secret false, not that Secret).
func checkEnvFrom(t *testing.T, what string, c corev1.Container, configMap string, secret bool) {
	t.Helper()
	var cm, sec bool
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == configMap {
			cm = true
		}
		if ef.SecretRef != nil && ef.SecretRef.Name == secretName {
			sec = true
		}
	}
	if !cm || sec != secret {
		t.Errorf("%s: envFrom %+v: want the ConfigMap %s and the Secret %s: %v", what, c.EnvFrom, configMap, secretName, secret)
	}
}

func checkProbe(t *testing.T, what string, c corev1.Container, p *corev1.Probe, path string, port int32) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe on %s", what, path)
		return
	}
	if p.HTTPGet.Path != path || containerPort(c, p.HTTPGet.Port) != port {
		t.Errorf("%s: probe GET %s on port %v, want %s on %d", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, port)
	}
}

// checkTemporalTLSVolume checks a pod mounts the optional Secret with the
// Temporal client certificate where the settings point, readable by its group.
func checkTemporalTLSVolume(t *testing.T, what string, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	var vol *corev1.Volume
	for i, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == temporalTLSName {
			vol = &spec.Volumes[i]
		}
	}
	if vol == nil || vol.Secret.Optional == nil || !*vol.Secret.Optional {
		t.Errorf("%s: no optional Secret volume %s (the Temporal client certificate)", what, temporalTLSName)
		return
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == vol.Name && m.MountPath == temporalTLSMount && m.ReadOnly
	}) {
		t.Errorf("%s: volume %s is not mounted read-only at %s", what, vol.Name, temporalTLSMount)
	}
	if psc := spec.SecurityContext; psc == nil || psc.FSGroup == nil || vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode&0o040 == 0 || *vol.Secret.DefaultMode&0o004 != 0 {
		t.Errorf("%s: the key in %s must be readable by the pod's fsGroup and nobody else", what, temporalTLSName)
	}
}
