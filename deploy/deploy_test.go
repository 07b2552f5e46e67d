package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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
	apiPort    = 8080
	roleLabel  = "orderflow/role"

	componentLabel = "app.kubernetes.io/component"
	versionLabel   = "app.kubernetes.io/version"
	apiClientLabel = "orderflow.io/api-client"

	// The Secrets, one per privilege (docs/DEPLOY.md, "Secrets").
	secretName       = "orderflow-secrets"      // runtime: workers, schedules Job
	migrateSecret    = "orderflow-migrate"      // DDL login: the migrate Job only
	migrateDSNKey    = "PG_MIGRATE_DSN"         //
	readerSecret     = "orderflow-reader"       // read-only login: the API only
	readerDSNKey     = "PG_READER_DSN"          //
	temporalTLSName  = "orderflow-temporal-tls" // optional client certificate for Temporal
	temporalTLSMount = "/etc/orderflow/temporal-tls"

	// workerStopSlack is what a worker needs after WORKER_STOP_TIMEOUT to
	// close its clients (workers.StopTimeout adds it to the timeout): the
	// pods' grace period must cover both.
	workerStopSlack = 10 * time.Second
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
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// triggerAuthentication is the part of KEDA's TriggerAuthentication the
// manifests use, decoded strictly.
type triggerAuthentication struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// object is what every rendered document has: its kind, name and labels.
type object struct {
	Kind   string
	Name   string
	Labels map[string]string
}

// rendered is a kustomization's output, every document decoded by kind.
type rendered struct {
	deployments     []appsv1.Deployment
	jobs            []batchv1.Job
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	pdbs            []policyv1.PodDisruptionBudget
	services        []corev1.Service
	accounts        []corev1.ServiceAccount
	namespaces      []corev1.Namespace
	networkPolicies []networkingv1.NetworkPolicy
	scaledObjects   []scaledObject
	triggerAuths    []triggerAuthentication
	objects         []object
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
	"Namespace": "v1", "NetworkPolicy": "networking.k8s.io/v1",
	"ScaledObject": "keda.sh/v1alpha1", "TriggerAuthentication": "keda.sh/v1alpha1",
}

// decodeInto appends a zero T to *list and decodes doc into it strictly.
func decodeInto[T any](list *[]T, doc []byte) error {
	*list = append(*list, *new(T))
	return decodeStrict(doc, &(*list)[len(*list)-1])
}

// add decodes one document (JSON) into its kind's type.
func (r *rendered) add(doc []byte) error {
	var tm struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
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
	r.objects = append(r.objects, object{tm.Kind, tm.Metadata.Name, tm.Metadata.Labels})
	var err error
	switch tm.Kind {
	case "Deployment":
		err = decodeInto(&r.deployments, doc)
	case "Job":
		err = decodeInto(&r.jobs, doc)
	case "ConfigMap":
		err = decodeInto(&r.configMaps, doc)
	case "Secret":
		err = decodeInto(&r.secrets, doc)
	case "PodDisruptionBudget":
		err = decodeInto(&r.pdbs, doc)
	case "Service":
		err = decodeInto(&r.services, doc)
	case "ServiceAccount":
		err = decodeInto(&r.accounts, doc)
	case "Namespace":
		err = decodeInto(&r.namespaces, doc)
	case "NetworkPolicy":
		err = decodeInto(&r.networkPolicies, doc)
	case "ScaledObject":
		err = decodeInto(&r.scaledObjects, doc)
	case "TriggerAuthentication":
		err = decodeInto(&r.triggerAuths, doc)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", tm.Kind, tm.Metadata.Name, err)
	}
	return nil
}

// build runs kustomize (krusty, as `kubectl kustomize dir`) and returns
// every document as JSON.
func build(dir string) ([][]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var docs [][]byte
	for _, res := range rm.Resources() {
		doc, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// render builds a kustomization and decodes every document strictly into
// the k8s.io/api type of its kind.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	docs, err := build(dir)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	for _, doc := range docs {
		if err := r.add(doc); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	return r
}

// pod is a pod template of a Deployment or a Job.
type pod struct {
	owner    string // Deployment/<name> or Job/<name>
	template corev1.PodTemplateSpec
}

func (r rendered) pods() []pod {
	var ps []pod
	for _, d := range r.deployments {
		ps = append(ps, pod{"Deployment/" + d.Name, d.Spec.Template})
	}
	for _, j := range r.jobs {
		ps = append(ps, pod{"Job/" + j.Name, j.Spec.Template})
	}
	return ps
}

// component returns the Deployments whose pods carry app.kubernetes.io/component=c.
func (r rendered) component(c string) []appsv1.Deployment {
	var ds []appsv1.Deployment
	for _, d := range r.deployments {
		if d.Spec.Template.Labels[componentLabel] == c {
			ds = append(ds, d)
		}
	}
	return ds
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

func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func envValue(c corev1.Container, name string) (string, bool) {
	e, ok := envVar(c, name)
	return e.Value, ok
}

// secretKeyOf tells which Secret and key an env var is read from ("" if none).
func secretKeyOf(c corev1.Container, name string) (secret, key string) {
	e, ok := envVar(c, name)
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return "", ""
	}
	return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
}

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

// containerPort resolves a port (a number or a container port name).
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
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

// highestMigration returns the number of the newest db/migrations/NNN_*.sql.
func highestMigration(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("../db/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in ../db/migrations: %v", err)
	}
	highest := 0
	for _, f := range files {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: name must start with a number", f)
		}
		highest = max(highest, n)
	}
	return highest
}

// imageTag returns the tag of an image reference ("" without one).
func imageTag(image string) string {
	name := image[strings.LastIndex(image, "/")+1:]
	if strings.Contains(name, "@") {
		return ""
	}
	_, tag, _ := strings.Cut(name, ":")
	return tag
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
	var svc *corev1.Service
	for i, s := range r.services {
		if s.Name == "orderflow-workers" {
			svc = &r.services[i]
		}
	}
	if svc == nil {
		t.Fatalf("no Service orderflow-workers")
	}
	for _, d := range r.deployments {
		selected := len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))
		if worker := d.Spec.Template.Labels[componentLabel] == "worker"; selected != worker {
			t.Errorf("Service %s selects Deployment %s: %v, want %v", svc.Name, d.Name, selected, worker)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != healthPort {
		t.Errorf("Service %s ports %v, want %d", svc.Name, svc.Spec.Ports, healthPort)
	}
}

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

	var svc *corev1.Service
	for i, s := range r.services {
		if s.Name == "orderflow-api" {
			svc = &r.services[i]
		}
	}
	if svc == nil {
		t.Fatalf("no Service orderflow-api")
	}
	for _, other := range r.deployments {
		selected := len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(other.Spec.Template.Labels))
		if selected != (other.Name == d.Name) {
			t.Errorf("Service %s selects Deployment %s: %v", svc.Name, other.Name, selected)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || containerPort(c, svc.Spec.Ports[0].TargetPort) != apiPort {
		t.Errorf("Service %s ports %v, want one named http to the container's %d", svc.Name, svc.Spec.Ports, apiPort)
	}
}

// checkJobs checks the two setup Jobs: migrate (as the DDL login, named by
// the schema version) and schedule ensure.
func checkJobs(t *testing.T, r rendered, configMap string) {
	t.Helper()
	byComponent := map[string]batchv1.Job{}
	for _, j := range r.jobs {
		byComponent[j.Spec.Template.Labels[componentLabel]] = j
	}
	if len(r.jobs) != 2 || len(byComponent) != 2 {
		t.Fatalf("%d Jobs (%v), want 2: migrate and schedules", len(r.jobs), slices.Collect(maps.Keys(byComponent)))
	}
	for component, hook := range map[string]string{"migrate": "PreSync", "schedules": "PostSync"} {
		j, ok := byComponent[component]
		if !ok {
			t.Errorf("no Job with %s=%s", componentLabel, component)
			continue
		}
		what := "Job " + j.Name
		spec := j.Spec.Template.Spec
		if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q", what, spec.RestartPolicy)
		}
		if len(spec.InitContainers) > 0 || len(spec.Containers) != 1 {
			t.Errorf("%s: want one container, no initContainers", what)
			continue
		}
		// Re-appliable by Argo CD (a hook, replaced on every sync) and Flux
		// (recreated when the immutable template changes).
		for k, v := range map[string]string{
			"argocd.argoproj.io/hook":               hook,
			"argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
			"kustomize.toolkit.fluxcd.io/force":     "enabled",
		} {
			if j.Annotations[k] != v {
				t.Errorf("%s: annotation %s=%q, want %q", what, k, j.Annotations[k], v)
			}
		}
		if j.Spec.TTLSecondsAfterFinished != nil {
			t.Errorf("%s: ttlSecondsAfterFinished: GitOps tools would recreate (and re-run) the deleted Job", what)
		}
		c := spec.Containers[0]
		if _, ok := envVar(c, "WORKER_ROLES"); ok {
			t.Errorf("%s sets WORKER_ROLES", what)
		}
		switch component {
		case "migrate":
			want := fmt.Sprintf("orderflow-migrate-v%03d", highestMigration(t))
			if j.Name != want {
				t.Errorf("Job %s: want the name %s (the highest db/migrations number): a new schema version must be a new Job", j.Name, want)
			}
			if !slices.Equal(c.Args, []string{"migrate"}) {
				t.Errorf("%s: args %v, want [migrate]", what, c.Args)
			}
			if s, k := secretKeyOf(c, "PG_DSN"); s != migrateSecret || k != migrateDSNKey {
				t.Errorf("%s: PG_DSN from Secret %q key %q, want %s key %s (the DDL login)", what, s, k, migrateSecret, migrateDSNKey)
			}
			// As a PreSync hook it runs before the ConfigMap and the
			// ServiceAccount of the same sync exist: it must need neither.
			if len(c.EnvFrom) > 0 {
				t.Errorf("%s: envFrom %+v: the migrate Job reads only PG_DSN (and must not need the ConfigMap)", what, c.EnvFrom)
			}
			if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
				t.Errorf("%s: ServiceAccount %s: a PreSync hook runs before it is created", what, sa)
			}
		case "schedules":
			if !slices.Equal(c.Args, []string{"schedule", "ensure"}) {
				t.Errorf("%s: args %v, want [schedule ensure]", what, c.Args)
			}
			checkEnvFrom(t, what, c, configMap, true)
			checkTemporalTLSVolume(t, what, spec, c)
		}
	}
	// Only the migrate Job has the DDL login, only the API the reader login.
	owner := map[string]struct{ component, env string }{
		migrateSecret: {"migrate", "PG_DSN"},
		readerSecret:  {"api", "PG_DSN"},
	}
	for _, p := range r.pods() {
		comp := p.template.Labels[componentLabel]
		for _, c := range p.template.Spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && (ef.SecretRef.Name == migrateSecret || ef.SecretRef.Name == readerSecret) {
					t.Errorf("%s container %s: envFrom Secret %s", p.owner, c.Name, ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				if o, ok := owner[e.ValueFrom.SecretKeyRef.Name]; ok && (o.component != comp || o.env != e.Name) {
					t.Errorf("%s container %s: %s from Secret %s, which only the %s pods read (as %s)", p.owner, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Name, o.component, o.env)
				}
			}
		}
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

// portOf returns the port of a host:port, or def without one.
func portOf(t *testing.T, addr string, def int32) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

// pgPort is the port of the DSNs in secret.example.yaml (PostgreSQL's 5432).
const pgPort = 5432

// checkNetworkPolicies checks every pod is isolated in both directions by
// exactly one NetworkPolicy, and what each kind of pod may reach.
func checkNetworkPolicies(t *testing.T, r rendered, cfg config.Config) {
	t.Helper()
	dns := []string{"UDP/53", "TCP/53"}
	temporal := fmt.Sprintf("TCP/%d", portOf(t, cfg.Temporal.Address, 7233))
	pg := fmt.Sprintf("TCP/%d", pgPort)
	redis := fmt.Sprintf("TCP/%d", portOf(t, cfg.Redis.Addr, 6379))
	var kafka []string
	for _, b := range cfg.Kafka.Brokers {
		kafka = append(kafka, fmt.Sprintf("TCP/%d", portOf(t, b, 9092)))
	}
	wantEgress := map[string][]string{
		"worker":    append(append([]string{pg, redis, temporal}, kafka...), dns...),
		"api":       append(append([]string{pg}, kafka...), dns...),
		"migrate":   append([]string{pg}, dns...),
		"schedules": append([]string{temporal}, dns...),
	}
	// Who may connect (pods with one of these labels) and to which port.
	type peer struct{ label, value string }
	prometheus := peer{"app.kubernetes.io/name", "prometheus"}
	wantIngress := map[string]struct {
		from []peer
		port int32
	}{
		"worker": {[]peer{prometheus}, healthPort},
		"api":    {[]peer{{apiClientLabel, "true"}, prometheus}, apiPort},
	}
	for _, p := range r.pods() {
		comp := p.template.Labels[componentLabel]
		var policies []networkingv1.NetworkPolicy
		for _, np := range r.networkPolicies {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
			}
			if !sel.Empty() && sel.Matches(labels.Set(p.template.Labels)) {
				policies = append(policies, np)
			}
		}
		if len(policies) != 1 {
			t.Errorf("%s is selected by %d NetworkPolicies, want 1", p.owner, len(policies))
			continue
		}
		np := policies[0]
		what := fmt.Sprintf("NetworkPolicy %s (for %s)", np.Name, p.owner)
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("%s: policyTypes %v, want Ingress and Egress", what, np.Spec.PolicyTypes)
		}
		c := p.template.Spec.Containers[0]
		resolve := func(pp networkingv1.NetworkPolicyPort) string {
			proto := corev1.ProtocolTCP
			if pp.Protocol != nil {
				proto = *pp.Protocol
			}
			if pp.Port == nil || pp.EndPort != nil {
				return string(proto) + "/any"
			}
			return fmt.Sprintf("%s/%d", proto, containerPort(c, *pp.Port))
		}
		var egress []string
		for _, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				t.Errorf("%s: an egress rule without ports", what)
			}
			for _, pp := range rule.Ports {
				egress = append(egress, resolve(pp))
			}
		}
		want, ok := wantEgress[comp]
		if !ok {
			t.Errorf("%s: no expectations for component %q", what, comp)
			continue
		}
		for _, w := range want {
			if !slices.Contains(egress, w) {
				t.Errorf("%s: egress %v does not allow %s", what, egress, w)
			}
		}
		for _, e := range egress {
			if !slices.Contains(want, e) && !(comp == "worker" || comp == "api") {
				t.Errorf("%s: egress to %s, which a %s pod does not need", what, e, comp)
			}
			if strings.HasSuffix(e, "/any") || strings.HasSuffix(e, "/-1") {
				t.Errorf("%s: egress port %s is not one port of this pod", what, e)
			}
		}
		wi, hasIngress := wantIngress[comp]
		if !hasIngress {
			if len(np.Spec.Ingress) > 0 {
				t.Errorf("%s: ingress rules %v, want none (a Job serves nothing)", what, np.Spec.Ingress)
			}
			continue
		}
		seen := map[peer]bool{}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) != 1 || resolve(rule.Ports[0]) != fmt.Sprintf("TCP/%d", wi.port) {
				t.Errorf("%s: ingress ports %v, want TCP %d only", what, rule.Ports, wi.port)
			}
			if len(rule.From) == 0 {
				t.Errorf("%s: ingress from anywhere, want only pods labelled %v", what, wi.from)
			}
			for _, from := range rule.From {
				ok := from.IPBlock == nil && from.PodSelector != nil && len(from.PodSelector.MatchLabels) == 1 && len(from.PodSelector.MatchExpressions) == 0
				if from.PodSelector != nil {
					for k, v := range from.PodSelector.MatchLabels {
						ok = ok && slices.Contains(wi.from, peer{k, v})
						seen[peer{k, v}] = true
					}
				}
				if !ok {
					t.Errorf("%s: ingress from %+v, want only pods labelled one of %v", what, from, wi.from)
				}
			}
		}
		for _, p := range wi.from {
			if !seen[p] {
				t.Errorf("%s: no ingress from pods labelled %s=%s", what, p.label, p.value)
			}
		}
	}
}

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
		if c := d.Spec.Template.Spec.Containers[0]; imageTag(c.Image) == "latest" || imageTag(c.Image) == "dev" || imageTag(c.Image) == "" {
			t.Errorf("Deployment %s: image %q is not pinned to a release", d.Name, c.Image)
		}
		if d.Spec.Replicas != nil && d.Spec.Template.Labels[componentLabel] == "worker" {
			t.Errorf("Deployment %s sets replicas %d: with KEDA the ScaledObject owns it", d.Name, *d.Spec.Replicas)
		}
	}
	if r.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted Pod Security Standard", ns)
	}

	// The scaler's credentials: one TriggerAuthentication, the workers' own.
	if len(r.triggerAuths) != 1 {
		t.Fatalf("%d TriggerAuthentications, want 1", len(r.triggerAuths))
	}
	ta := r.triggerAuths[0]
	params := map[string][2]string{} // parameter -> Secret, key
	for _, ref := range ta.Spec.SecretTargetRef {
		if !slices.Contains([]string{"apiKey", "cert", "key", "keyPassword", "ca"}, ref.Parameter) {
			t.Errorf("TriggerAuthentication %s: parameter %q is none of the temporal scaler's (apiKey, cert, key, keyPassword, ca)", ta.Metadata.Name, ref.Parameter)
		}
		params[ref.Parameter] = [2]string{ref.Name, ref.Key}
	}
	if params["apiKey"] != [2]string{secretName, "TEMPORAL_API_KEY"} {
		t.Errorf("TriggerAuthentication %s: apiKey from %v, want the workers' TEMPORAL_API_KEY in %s", ta.Metadata.Name, params["apiKey"], secretName)
	}
	// The scaler presents the certificate the workers' settings name.
	for param, file := range map[string]string{"cert": cfg.Temporal.TLSCertFile, "key": cfg.Temporal.TLSKeyFile, "ca": cfg.Temporal.TLSCAFile} {
		got, ok := params[param]
		switch {
		case file == "" && ok:
			t.Errorf("TriggerAuthentication %s: %s set but the workers use none", ta.Metadata.Name, param)
		case file != "" && (filepath.Dir(file) != temporalTLSMount || got != [2]string{temporalTLSName, filepath.Base(file)}):
			t.Errorf("TriggerAuthentication %s: %s from %v, want %s key %s (the workers' %s)", ta.Metadata.Name, param, got, temporalTLSName, filepath.Base(file), file)
		}
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
		tr := so.Spec.Triggers[0]
		if tr.AuthenticationRef == nil || tr.AuthenticationRef.Name != ta.Metadata.Name || tr.AuthenticationRef.Kind != "" && tr.AuthenticationRef.Kind != "TriggerAuthentication" {
			t.Errorf("ScaledObject %s: authenticationRef %+v, want TriggerAuthentication %s", so.Metadata.Name, tr.AuthenticationRef, ta.Metadata.Name)
		}
		md := tr.Metadata
		if md["taskQueue"] != cfg.Temporal.TaskQueue(config.Role(role)) {
			t.Errorf("ScaledObject %s: taskQueue %q, want %q", so.Metadata.Name, md["taskQueue"], cfg.Temporal.TaskQueue(config.Role(role)))
		}
		if md["namespace"] != cfg.Temporal.Namespace {
			t.Errorf("ScaledObject %s: Temporal namespace %q, want TEMPORAL_NAMESPACE %q", so.Metadata.Name, md["namespace"], cfg.Temporal.Namespace)
		}
		if md["endpoint"] == "" && md["endpointFromEnv"] != "TEMPORAL_ADDRESS" {
			t.Errorf("ScaledObject %s: no endpoint (or endpointFromEnv: TEMPORAL_ADDRESS)", so.Metadata.Name)
		}
		if md["tlsServerName"] != cfg.Temporal.TLSServerName {
			t.Errorf("ScaledObject %s: tlsServerName %q, want TEMPORAL_TLS_SERVER_NAME %q", so.Metadata.Name, md["tlsServerName"], cfg.Temporal.TLSServerName)
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

// secretRefs returns every (Secret, key) the rendered objects read; key ""
// for a whole Secret (envFrom, a volume).
func secretRefs(r rendered) map[[2]string]bool {
	refs := map[[2]string]bool{}
	for _, p := range r.pods() {
		for _, c := range p.template.Spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					refs[[2]string{ef.SecretRef.Name, ""}] = true
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					refs[[2]string{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}] = true
				}
			}
		}
		for _, v := range p.template.Spec.Volumes {
			if v.Secret != nil {
				refs[[2]string{v.Secret.SecretName, ""}] = true
			}
		}
	}
	for _, ta := range r.triggerAuths {
		for _, ref := range ta.Spec.SecretTargetRef {
			refs[[2]string{ref.Name, ref.Key}] = true
		}
	}
	return refs
}

// TestSecretExample checks the example Secrets: every Secret and key the
// manifests read, placeholders only, the runtime Secret's keys known
// settings, and kept out of every kustomization.
func TestSecretExample(t *testing.T) {
	data, err := os.ReadFile("k8s/base/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]corev1.Secret{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var s corev1.Secret
		if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
			t.Fatalf("secret.example.yaml: %v", err)
		}
		if s.Kind != "Secret" || s.APIVersion != "v1" {
			t.Errorf("secret.example.yaml: %s %s, want v1 Secrets only", s.APIVersion, s.Kind)
		}
		secrets[s.Name] = s
	}
	refs := secretRefs(render(t, "k8s/base"))
	for ref := range secretRefs(render(t, "k8s/overlays/production")) {
		refs[ref] = true
	}
	for ref := range refs {
		s, ok := secrets[ref[0]]
		if !ok {
			t.Errorf("the manifests read Secret %s, which secret.example.yaml does not show", ref[0])
			continue
		}
		if _, ok := s.StringData[ref[1]]; ref[1] != "" && !ok {
			t.Errorf("the manifests read key %s of Secret %s, which secret.example.yaml does not show", ref[1], ref[0])
		}
	}
	known := configKeys(t)
	for name, s := range secrets {
		if !refs[[2]string{name, ""}] && !slices.ContainsFunc(slices.Collect(maps.Keys(refs)), func(r [2]string) bool { return r[0] == name }) {
			t.Errorf("secret.example.yaml shows Secret %s, which no manifest reads", name)
		}
		for k, v := range s.StringData {
			if name == secretName && !known[k] {
				t.Errorf("secret.example.yaml %s key %s is no setting of config.Load", name, k)
			}
			if name != secretName && !refs[[2]string{name, k}] {
				t.Errorf("secret.example.yaml %s key %s is read by no manifest", name, k)
			}
			if k != "REDIS_USERNAME" && !strings.Contains(v, "CHANGE-ME") {
				t.Errorf("secret.example.yaml %s %s=%q: want a CHANGE-ME placeholder", name, k, v)
			}
			if strings.HasSuffix(k, "DSN") && portOf(t, hostPort(t, v), pgPort) != pgPort {
				t.Errorf("secret.example.yaml %s %s: port is not %d, which the network policies allow", name, k, pgPort)
			}
		}
	}
	if _, ok := secrets[secretName].StringData["PG_DSN"]; !ok {
		t.Errorf("secret.example.yaml: %s has no PG_DSN", secretName)
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
				t.Errorf("%s lists %s: the Secrets are not in the repository's manifests", path, res)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostPort returns the host:port of a URL.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("%q: %v", rawURL, err)
	}
	return u.Host
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
		regexp.MustCompile(`go build -trimpath -ldflags "-s -w( -X [^" ]+)*" -o /out/orderflow \./cmd/orderflow`), // -X: the version stamp
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
