package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/orderflow/orderflow/config"
)

// roles are the worker roles, each its own Deployment; memLimits are their
// memory limits as promised in docs/DEPLOY.md.
var (
	roles     = []string{"stg", "dds", "cdm"}
	memLimits = map[string]string{"stg": "256Mi", "dds": "256Mi", "cdm": "128Mi"}
)

const (
	healthPort = 8081
	secretName = "orderflow-secrets"
	roleLabel  = "orderflow/role"
)

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) the
// manifests use; decoding is strict, so a misspelled field fails.
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// rendered is a kustomization's output, every document decoded by kind.
type rendered struct {
	deployments   []appsv1.Deployment
	jobs          []batchv1.Job
	configMaps    []corev1.ConfigMap
	secrets       []corev1.Secret
	pdbs          []policyv1.PodDisruptionBudget
	services      []corev1.Service
	accounts      []corev1.ServiceAccount
	namespaces    []corev1.Namespace
	scaledObjects []scaledObject
	all           []metav1.TypeMeta
	names         []string // kind/name of every document
}

// decodeStrict decodes JSON into v as the API server's strict field
// validation does: field names match case-sensitively, and an unknown or
// duplicate field is an error.
func decodeStrict(data []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(data, v, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// wantAPIVersion is the apiVersion each kind must be written with.
var wantAPIVersion = map[string]string{
	"Deployment": "apps/v1", "Job": "batch/v1", "ConfigMap": "v1", "Secret": "v1",
	"PodDisruptionBudget": "policy/v1", "Service": "v1", "ServiceAccount": "v1",
	"Namespace": "v1", "ScaledObject": "keda.sh/v1alpha1",
}

// add decodes one document (JSON) into its kind's type.
func (r *rendered) add(doc []byte) error {
	var tm struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(doc, &tm); err != nil {
		return err
	}
	if want, ok := wantAPIVersion[tm.Kind]; !ok {
		return fmt.Errorf("%s %s: a kind these tests do not know; add it to wantAPIVersion and check it", tm.Kind, tm.Metadata.Name)
	} else if tm.APIVersion != want {
		return fmt.Errorf("%s %s: apiVersion %q, want %q", tm.Kind, tm.Metadata.Name, tm.APIVersion, want)
	}
	r.all = append(r.all, tm.TypeMeta)
	r.names = append(r.names, tm.Kind+"/"+tm.Metadata.Name)
	var err error
	switch tm.Kind {
	case "Deployment":
		r.deployments = append(r.deployments, appsv1.Deployment{})
		err = decodeStrict(doc, &r.deployments[len(r.deployments)-1])
	case "Job":
		r.jobs = append(r.jobs, batchv1.Job{})
		err = decodeStrict(doc, &r.jobs[len(r.jobs)-1])
	case "ConfigMap":
		r.configMaps = append(r.configMaps, corev1.ConfigMap{})
		err = decodeStrict(doc, &r.configMaps[len(r.configMaps)-1])
	case "Secret":
		r.secrets = append(r.secrets, corev1.Secret{})
		err = decodeStrict(doc, &r.secrets[len(r.secrets)-1])
	case "PodDisruptionBudget":
		r.pdbs = append(r.pdbs, policyv1.PodDisruptionBudget{})
		err = decodeStrict(doc, &r.pdbs[len(r.pdbs)-1])
	case "Service":
		r.services = append(r.services, corev1.Service{})
		err = decodeStrict(doc, &r.services[len(r.services)-1])
	case "ServiceAccount":
		r.accounts = append(r.accounts, corev1.ServiceAccount{})
		err = decodeStrict(doc, &r.accounts[len(r.accounts)-1])
	case "Namespace":
		r.namespaces = append(r.namespaces, corev1.Namespace{})
		err = decodeStrict(doc, &r.namespaces[len(r.namespaces)-1])
	case "ScaledObject":
		r.scaledObjects = append(r.scaledObjects, scaledObject{})
		err = decodeStrict(doc, &r.scaledObjects[len(r.scaledObjects)-1])
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", tm.Kind, tm.Metadata.Name, err)
	}
	return nil
}

// render runs kustomize (krusty, as `kubectl kustomize dir`) and decodes
// every document strictly into the k8s.io/api type of its kind.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var r rendered
	for _, res := range rm.Resources() {
		doc, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if err := r.add(doc); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	return r
}

// configKeys returns every environment variable config.Load reads.
func configKeys(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if _, err := config.Load(func(k string) (string, bool) { keys[k] = true; return "", false }); err != nil {
		t.Fatalf("default configuration: %v", err)
	}
	return keys
}

// secretish names settings that must come from a Secret, never a ConfigMap.
var secretish = regexp.MustCompile(`PASSWORD|USERNAME|PG_DSN|TOKEN|API_KEY`)

func roleOf(t *testing.T, d appsv1.Deployment) string {
	t.Helper()
	role := d.Spec.Template.Labels[roleLabel]
	if !slices.Contains(roles, role) {
		t.Fatalf("Deployment %s: pod label %s=%q, want one of %v", d.Name, roleLabel, role, roles)
	}
	return role
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// checkPodSecurity checks the pod and its containers against the restricted
// Pod Security Standard and a read-only root file system.
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

// checkEnvFrom checks a container reads the generated ConfigMap and the Secret.
func checkEnvFrom(t *testing.T, what string, c corev1.Container, configMap string) {
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
	if !cm || !sec {
		t.Errorf("%s: envFrom %+v: want the ConfigMap %s and the Secret %s", what, c.EnvFrom, configMap, secretName)
	}
}

// probePort resolves a probe's port (a number or a container port name).
func probePort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func checkProbe(t *testing.T, what string, c corev1.Container, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe on %s", what, path)
		return
	}
	if p.HTTPGet.Path != path || probePort(c, p.HTTPGet.Port) != healthPort {
		t.Errorf("%s: probe GET %s on port %v, want %s on %d", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, healthPort)
	}
}

// checkBase checks what the base promises; prod adds the overlay's promises.
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
	if _, err := config.Load(func(k string) (string, bool) { v, ok := cm.Data[k]; return v, ok }); err != nil {
		t.Errorf("the ConfigMap's settings do not load: %v", err)
	}

	// No Secret with data in the rendered output: it is created out of band.
	for _, s := range r.secrets {
		if len(s.Data) > 0 || len(s.StringData) > 0 {
			t.Errorf("Secret %s with data in the manifests", s.Name)
		}
	}

	// One Deployment per role.
	byRole := map[string]appsv1.Deployment{}
	for _, d := range r.deployments {
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
		spec := d.Spec.Template.Spec
		checkPodSecurity(t, what, spec)
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
		for _, e := range c.Env {
			if !known[e.Name] && e.Name != "GOMEMLIMIT" {
				t.Errorf("%s: env %s is no setting of config.Load", what, e.Name)
			}
		}
		checkEnvFrom(t, what, c, cm.Name)
		checkProbe(t, what+" liveness", c, c.LivenessProbe, "/healthz")
		checkProbe(t, what+" readiness", c, c.ReadinessProbe, "/readyz")
		if c.StartupProbe != nil {
			checkProbe(t, what+" startup", c, c.StartupProbe, "/healthz")
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
		if !strings.HasPrefix(c.Image, "orderflow") && !strings.Contains(c.Image, "/orderflow") {
			t.Errorf("%s: image %q is not the orderflow image", what, c.Image)
		}
	}
	for _, role := range roles {
		if _, ok := byRole[role]; !ok {
			t.Errorf("no Deployment for role %s", role)
		}
	}

	// A budget per role, selecting exactly that role's pods.
	pdbRoles := map[string]bool{}
	for _, p := range r.pdbs {
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("PodDisruptionBudget %s: set exactly one of minAvailable, maxUnavailable", p.Name)
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			t.Errorf("PodDisruptionBudget %s: %v", p.Name, err)
			continue
		}
		for role, d := range byRole {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				if pdbRoles[role] {
					t.Errorf("role %s has two PodDisruptionBudgets", role)
				}
				pdbRoles[role] = true
				if p.Spec.Selector.MatchLabels[roleLabel] != role {
					t.Errorf("PodDisruptionBudget %s selects role %s's pods but names role %q", p.Name, role, p.Spec.Selector.MatchLabels[roleLabel])
				}
			}
		}
	}
	for _, role := range roles {
		if !pdbRoles[role] {
			t.Errorf("no PodDisruptionBudget for role %s", role)
		}
	}

	// The setup Job: migrate (initContainer), then schedule ensure.
	if len(r.jobs) != 1 {
		t.Fatalf("%d Jobs, want 1", len(r.jobs))
	}
	job := r.jobs[0]
	spec := job.Spec.Template.Spec
	checkPodSecurity(t, "Job "+job.Name, spec)
	if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job %s: restartPolicy %q", job.Name, spec.RestartPolicy)
	}
	if len(spec.InitContainers) != 1 || !slices.Equal(spec.InitContainers[0].Args, []string{"migrate"}) {
		t.Errorf("Job %s: initContainers %v, want one running migrate", job.Name, spec.InitContainers)
	}
	if len(spec.Containers) != 1 || !slices.Equal(spec.Containers[0].Args, []string{"schedule", "ensure"}) {
		t.Errorf("Job %s: containers %v, want one running schedule ensure", job.Name, spec.Containers)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		checkEnvFrom(t, "Job "+job.Name+" container "+c.Name, c, cm.Name)
		if v, ok := envValue(c, "WORKER_ROLES"); ok {
			t.Errorf("Job container %s sets WORKER_ROLES=%s", c.Name, v)
		}
	}

	// Every pod runs under the ServiceAccount the manifests create.
	if len(r.accounts) != 1 {
		t.Fatalf("%d ServiceAccounts, want 1", len(r.accounts))
	}
	for _, d := range r.deployments {
		if d.Spec.Template.Spec.ServiceAccountName != r.accounts[0].Name {
			t.Errorf("Deployment %s runs as ServiceAccount %q, want %s", d.Name, d.Spec.Template.Spec.ServiceAccountName, r.accounts[0].Name)
		}
	}

	// The metrics Service reaches every worker's health port.
	if len(r.services) != 1 {
		t.Fatalf("%d Services, want 1", len(r.services))
	}
	svc := r.services[0]
	for role, d := range byRole {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Service %s does not select the %s workers", svc.Name, role)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != healthPort {
		t.Errorf("Service %s ports %v, want %d", svc.Name, svc.Spec.Ports, healthPort)
	}
}

func TestBase(t *testing.T) {
	r := render(t, "k8s/base")
	checkBase(t, r)
	if len(r.scaledObjects) > 0 {
		t.Errorf("the base holds %d ScaledObjects: KEDA must stay optional (components/keda)", len(r.scaledObjects))
	}
	for _, d := range r.deployments {
		if d.Namespace != "" {
			t.Errorf("Deployment %s: the base sets namespace %q; overlays choose it", d.Name, d.Namespace)
		}
	}
}

func TestProductionOverlay(t *testing.T) {
	r := render(t, "k8s/overlays/production")
	checkBase(t, r)
	cm := r.configMaps[0]
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := cm.Data[k]; return v, ok })
	if err != nil {
		t.Fatalf("production settings: %v", err)
	}

	// Every namespaced object lands in the overlay's namespace.
	if len(r.namespaces) != 1 {
		t.Fatalf("%d Namespaces, want 1", len(r.namespaces))
	}
	ns := r.namespaces[0].Name
	for _, d := range r.deployments {
		if d.Namespace != ns {
			t.Errorf("Deployment %s in namespace %q, want %s", d.Name, d.Namespace, ns)
		}
		if c := d.Spec.Template.Spec.Containers[0]; strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
			t.Errorf("Deployment %s: image %q is not pinned", d.Name, c.Image)
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas %d: with KEDA the ScaledObject owns it", d.Name, *d.Spec.Replicas)
		}
	}
	if r.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted Pod Security Standard", ns)
	}

	// One ScaledObject per role, on the role's Deployment and task queue.
	deployments := map[string]appsv1.Deployment{}
	for _, d := range r.deployments {
		deployments[d.Name] = d
	}
	scaled := map[string]bool{}
	for _, so := range r.scaledObjects {
		d, ok := deployments[so.Spec.ScaleTargetRef.Name]
		if !ok {
			t.Errorf("ScaledObject %s targets %q, no such Deployment", so.Metadata.Name, so.Spec.ScaleTargetRef.Name)
			continue
		}
		if so.Metadata.Namespace != ns {
			t.Errorf("ScaledObject %s in namespace %q, want %s", so.Metadata.Name, so.Metadata.Namespace, ns)
		}
		role := roleOf(t, d)
		scaled[role] = true
		if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
			t.Errorf("ScaledObject %s: replicas %v..%v: want 1 <= min <= max (a worker never scales to zero: schedules need it)", so.Metadata.Name, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
		}
		if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "temporal" {
			t.Errorf("ScaledObject %s: triggers %+v, want one of type temporal", so.Metadata.Name, so.Spec.Triggers)
			continue
		}
		md := so.Spec.Triggers[0].Metadata
		if md["taskQueue"] != cfg.Temporal.TaskQueue(role) {
			t.Errorf("ScaledObject %s: taskQueue %q, want %q", so.Metadata.Name, md["taskQueue"], cfg.Temporal.TaskQueue(role))
		}
		if md["namespace"] != cfg.Temporal.Namespace {
			t.Errorf("ScaledObject %s: Temporal namespace %q, want TEMPORAL_NAMESPACE %q", so.Metadata.Name, md["namespace"], cfg.Temporal.Namespace)
		}
		if md["endpoint"] == "" && md["endpointFromEnv"] != "TEMPORAL_ADDRESS" {
			t.Errorf("ScaledObject %s: no endpoint (or endpointFromEnv: TEMPORAL_ADDRESS)", so.Metadata.Name)
		}
		if md["targetQueueSize"] == "" {
			t.Errorf("ScaledObject %s: no targetQueueSize", so.Metadata.Name)
		}
		wantQueues := "activity"
		if role == "stg" {
			wantQueues = "workflow,activity" // the stg worker also runs the Pipeline workflow
		}
		if md["queueTypes"] != wantQueues {
			t.Errorf("ScaledObject %s: queueTypes %q, want %q", so.Metadata.Name, md["queueTypes"], wantQueues)
		}
	}
	for _, role := range roles {
		if !scaled[role] {
			t.Errorf("no ScaledObject for role %s", role)
		}
	}
}

// TestSecretExample checks the example Secret: placeholders for known
// settings, the name the pods read, and kept out of every kustomization.
func TestSecretExample(t *testing.T) {
	data, err := os.ReadFile("k8s/base/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		t.Fatalf("secret.example.yaml: %v", err)
	}
	if s.Kind != "Secret" || s.Name != secretName {
		t.Errorf("secret.example.yaml is %s %s, want Secret %s", s.Kind, s.Name, secretName)
	}
	if _, ok := s.StringData["PG_DSN"]; !ok {
		t.Errorf("secret.example.yaml has no PG_DSN")
	}
	known := configKeys(t)
	for k, v := range s.StringData {
		if !known[k] {
			t.Errorf("secret.example.yaml key %s is no setting of config.Load", k)
		}
		if secretish.MatchString(k) && !strings.Contains(v, "CHANGE-ME") && k != "REDIS_USERNAME" {
			t.Errorf("secret.example.yaml %s=%q: want a CHANGE-ME placeholder", k, v)
		}
	}
	err = filepath.WalkDir("k8s", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "kustomization.yaml" {
			return err
		}
		var k struct {
			Resources []string `json:"resources"`
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, res := range k.Resources {
			if strings.Contains(res, "secret") {
				t.Errorf("%s lists %s: the Secret is not in the repository's manifests", path, res)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dockerignoreMatch reports whether a .dockerignore pattern excludes path
// (slash-separated, relative to the context) or one of its parent folders.
func dockerignoreMatch(pattern, path string) bool {
	pattern = strings.Trim(filepath.ToSlash(pattern), "/")
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			re.WriteString(".*")
			i++
			if i+1 < len(pattern) && pattern[i+1] == '/' {
				re.WriteString("/?")
				i++
			}
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("(/.*)?$")
	return regexp.MustCompile(re.String()).MatchString(path)
}

// TestImage checks the Dockerfile's promises, that .dockerignore keeps every
// file the build needs, and that the binary builds without cgo (static).
func TestImage(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^FROM golang:1\.26\S* AS build$`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static-debian12:nonroot$`),
		regexp.MustCompile(`CGO_ENABLED=0`),
		regexp.MustCompile(`go build -trimpath -ldflags "-s -w" -o /out/orderflow \./cmd/orderflow`),
		regexp.MustCompile(`(?m)^COPY --from=build /out/orderflow /orderflow$`),
		regexp.MustCompile(`(?m)^USER nonroot`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/orderflow"\]$`),
		regexp.MustCompile(`(?m)^CMD \["worker"\]$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if n := strings.Count(text, "\nFROM "); n != 2 {
		t.Errorf("Dockerfile has %d stages, want 2 (build, runtime)", n)
	}

	// The files `go build ./cmd/orderflow` reads, relative to the repository root.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`, "./cmd/orderflow")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list ./cmd/orderflow: %v\n%s", err, stderr(err))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, downloaded in the image
		}
		for _, f := range fields[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			t.Errorf(".dockerignore exception %q: this test's matcher does not handle exceptions", p)
			continue
		}
		for _, f := range needed {
			if dockerignoreMatch(p, f) {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", p, f)
			}
		}
	}
	for _, p := range []string{".git", "bin", "data"} {
		if !slices.ContainsFunc(strings.Split(string(ignore), "\n"), func(l string) bool {
			return dockerignoreMatch(strings.TrimSpace(l), p) && !strings.HasPrefix(strings.TrimSpace(l), "#") && strings.TrimSpace(l) != ""
		}) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}

	// Static: nothing in the build needs cgo.
	cmd = exec.Command("go", "list", "-deps", "./cmd/orderflow")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list -deps: %v\n%s", err, stderr(err))
	}
	if slices.Contains(strings.Fields(string(out)), "runtime/cgo") {
		t.Errorf("./cmd/orderflow depends on runtime/cgo with CGO_ENABLED=0")
	}
}

func TestDockerignoreMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"bin", "bin/temporal", true},
		{"bin", "cmd/bin.go", false},
		{"**/testdata", "vault/testdata/keys.json", true},
		{"**/testdata", "testdata/x", true},
		{"*.test", "observe.test", true},
		{"*.test", "observe/observe.test", false},
		{"deploy/k8s", "deploy/k8s/base/kustomization.yaml", true},
		{"deploy/k8s", "deploy/deploy.go", false},
		{"docs", "docs/DEPLOY.md", true},
	} {
		if got := dockerignoreMatch(c.pattern, c.path); got != c.want {
			t.Errorf("dockerignoreMatch(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
