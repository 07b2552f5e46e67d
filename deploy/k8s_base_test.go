package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orderflow/orderflow/config"
)

// The base (k8s/base): checkBase checks what it promises for every
// kustomization built on it; k8s_workers_test.go, k8s_api_test.go,
// k8s_jobs_test.go and k8s_networkpolicy_test.go hold the checks it calls.

func TestBase(t *testing.T) {
	r := render(t, "k8s/base")
	checkBase(t, r)
	if len(r.scaledObjects) > 0 || len(r.triggerAuths) > 0 {
		t.Errorf("the base holds KEDA objects: KEDA must stay optional (components/keda)")
	}
	for _, d := range r.deployments {
		if d.Namespace != "" {
			t.Errorf("Deployment %s: the base sets namespace %q; overlays choose it", d.Name, d.Namespace)
		}
	}
}

// checkBase checks what the base promises; the overlay tests add theirs.
func checkBase(t *testing.T, r rendered) {
	t.Helper()
	known := configKeys(t)

	// The settings: one ConfigMap of known, non-secret keys that config.Load accepts.
	if len(r.configMaps) != 1 {
		t.Fatalf("%d ConfigMaps, want 1 (orderflow-config)", len(r.configMaps))
	}
	cm := r.configMaps[0]
	if !strings.HasPrefix(cm.Name, "orderflow-config") {
		t.Errorf("ConfigMap %s, want orderflow-config-<hash>", cm.Name)
	}
	for k := range cm.Data {
		if !known[k] {
			t.Errorf("ConfigMap key %s is no setting of config.Load", k)
		}
		if secretish.MatchString(k) {
			t.Errorf("ConfigMap holds %s: secrets belong in %s", k, secretName)
		}
	}
	if cm.Data["HEALTH_ADDR"] != fmt.Sprintf("0.0.0.0:%d", healthPort) {
		t.Errorf("HEALTH_ADDR = %q, want 0.0.0.0:%d (probes come from outside the pod)", cm.Data["HEALTH_ADDR"], healthPort)
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := cm.Data[k]; return v, ok })
	if err != nil {
		t.Fatalf("the ConfigMap's settings do not load: %v", err)
	}

	// No Secret with data in the rendered output: they are created out of band.
	for _, s := range r.secrets {
		if len(s.Data) > 0 || len(s.StringData) > 0 {
			t.Errorf("Secret %s with data in the manifests", s.Name)
		}
	}

	// Every pod: the restricted standard, GOMEMLIMIT, the version label.
	version := ""
	for _, p := range r.pods() {
		spec := p.template.Spec
		checkPodSecurity(t, p.owner, spec)
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			what := p.owner + " container " + c.Name
			checkGoMemLimit(t, what, c)
			if !strings.HasPrefix(c.Image, "orderflow") && !strings.Contains(c.Image, "/orderflow") {
				t.Errorf("%s: image %q is not the orderflow image", what, c.Image)
			}
			tag := imageTag(c.Image)
			if version == "" {
				version = tag
			}
			if tag == "" || tag != version {
				t.Errorf("%s: image %q: want every container on one tagged image (tag %q)", what, c.Image, version)
			}
			for _, e := range c.Env {
				if !known[e.Name] && e.Name != "GOMEMLIMIT" {
					t.Errorf("%s: env %s is no setting of config.Load", what, e.Name)
				}
			}
		}
	}
	// app.kubernetes.io/version names the release on every object and pod,
	// and the release is the image's tag.
	for _, o := range r.objects {
		if got := o.Labels[versionLabel]; got != version {
			t.Errorf("%s %s: label %s=%q, want the image tag %q", o.Kind, o.Name, versionLabel, got, version)
		}
	}
	for _, p := range r.pods() {
		if got := p.template.Labels[versionLabel]; got != version {
			t.Errorf("%s: pod label %s=%q, want the image tag %q", p.owner, versionLabel, got, version)
		}
		if p.template.Labels["app.kubernetes.io/part-of"] != "orderflow" {
			t.Errorf("%s: pods lack app.kubernetes.io/part-of=orderflow (kubectl get pods -l ... finds them by it)", p.owner)
		}
	}
	for _, d := range r.deployments {
		if _, ok := d.Spec.Selector.MatchLabels[versionLabel]; ok {
			t.Errorf("Deployment %s selects on %s: a selector is immutable, the version is not", d.Name, versionLabel)
		}
	}

	checkWorkers(t, r, cm.Name, cfg)
	checkAPI(t, r, cm.Name)
	checkJobs(t, r, cm.Name)
	checkBudgets(t, r)
	checkNetworkPolicies(t, r, cfg)

	// Every Deployment and the schedules Job run under the ServiceAccount
	// the manifests create (the migrate Job under the namespace's default,
	// so it can run before anything is applied).
	if len(r.accounts) != 1 {
		t.Fatalf("%d ServiceAccounts, want 1", len(r.accounts))
	}
	for _, p := range r.pods() {
		if p.template.Labels[componentLabel] == "migrate" {
			continue
		}
		if p.template.Spec.ServiceAccountName != r.accounts[0].Name {
			t.Errorf("%s runs as ServiceAccount %q, want %s", p.owner, p.template.Spec.ServiceAccountName, r.accounts[0].Name)
		}
	}
}

// secretish names settings that must come from a Secret, never a ConfigMap.
var secretish = regexp.MustCompile(`PASSWORD|USERNAME|PG_DSN|TOKEN|API_KEY`)

// checkPodSecurity checks the pod and its containers against the restricted
// Pod Security Standard and a read-only root file system (the standard
// itself is checked by TestManifestsValidate with the admission library).
func checkPodSecurity(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", what)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext.runAsUser is not a non-zero uid", what)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", what)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", what)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		w := what + " container " + c.Name
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", w)
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", w)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", w)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities are not drop [ALL]", w)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: privileged", w)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runs as uid 0", w)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources %+v: want cpu and memory requests and a memory limit", w, c.Resources)
		}
	}
}

// parseGoMemLimit parses GOMEMLIMIT as the Go runtime does: a number of
// bytes with an optional unit B, KiB, MiB, GiB or TiB.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	factor := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = n, u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("GOMEMLIMIT %q: want a positive number of bytes with B, KiB, MiB, GiB or TiB", s)
	}
	return n * factor, nil
}

// checkGoMemLimit checks every container sets GOMEMLIMIT literally to
// 85-90 % of its memory limit: the runtime then collects harder before the
// kernel kills the container, with room left for memory it does not count.
// (A resourceFieldRef gives 100 % at best: a divisor only scales units.)
func checkGoMemLimit(t *testing.T, what string, c corev1.Container) {
	t.Helper()
	e, ok := envVar(c, "GOMEMLIMIT")
	if !ok || e.ValueFrom != nil {
		t.Errorf("%s: want GOMEMLIMIT set to a value (about 90 %% of the memory limit), got %+v", what, e)
		return
	}
	got, err := parseGoMemLimit(e.Value)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	limit := c.Resources.Limits.Memory().Value()
	if lo, hi := limit*85/100, limit*90/100; got < lo || got > hi {
		t.Errorf("%s: GOMEMLIMIT=%s is %d bytes, want 85-90 %% of the memory limit %s (%d-%d)", what, e.Value, got, c.Resources.Limits.Memory(), lo, hi)
	}
}

// checkBudgets checks one PodDisruptionBudget per Deployment.
func checkBudgets(t *testing.T, r rendered) {
	t.Helper()
	covered := map[string]int{}
	for _, p := range r.pdbs {
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("PodDisruptionBudget %s: set exactly one of minAvailable, maxUnavailable", p.Name)
		}
		if p.Spec.UnhealthyPodEvictionPolicy == nil || *p.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
			t.Errorf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy is not AlwaysAllow (a crash-looping pod would block every drain)", p.Name)
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("PodDisruptionBudget %s: selector %v: %v", p.Name, p.Spec.Selector, err)
			continue
		}
		for _, d := range r.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				covered[d.Name]++
			}
		}
	}
	for _, d := range r.deployments {
		if covered[d.Name] != 1 {
			t.Errorf("Deployment %s is covered by %d PodDisruptionBudgets, want 1", d.Name, covered[d.Name])
		}
	}
}
