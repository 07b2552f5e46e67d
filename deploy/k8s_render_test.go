package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rendering the Kubernetes manifests (k8s/) into the k8s.io/api types, and
// reading what the checks of the other k8s_*_test.go files look at.

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

// into returns a decoder of documents into *list (decodeInto).
func into[T any](list *[]T) func([]byte) error {
	return func(doc []byte) error { return decodeInto(list, doc) }
}

// add decodes one document (JSON) into its kind's type.
func (r *rendered) add(doc []byte) error {
	var tm objectHeader
	if err := json.Unmarshal(doc, &tm); err != nil {
		return err
	}
	if want, ok := wantAPIVersion[tm.Kind]; !ok {
		return fmt.Errorf("%s %s: a kind these tests do not know; add it to wantAPIVersion and check it", tm.Kind, tm.Metadata.Name)
	} else if tm.APIVersion != want {
		return fmt.Errorf("%s %s: apiVersion %q, want %q", tm.Kind, tm.Metadata.Name, tm.APIVersion, want)
	}
	r.objects = append(r.objects, object{tm.Kind, tm.Metadata.Name, tm.Metadata.Labels})
	decode := map[string]func([]byte) error{
		"Deployment": into(&r.deployments), "Job": into(&r.jobs), "ConfigMap": into(&r.configMaps), "Secret": into(&r.secrets),
		"PodDisruptionBudget": into(&r.pdbs), "Service": into(&r.services), "ServiceAccount": into(&r.accounts),
		"Namespace": into(&r.namespaces), "NetworkPolicy": into(&r.networkPolicies),
		"ScaledObject": into(&r.scaledObjects), "TriggerAuthentication": into(&r.triggerAuths),
	}[tm.Kind]
	if decode == nil {
		return nil
	}
	if err := decode(doc); err != nil {
		return fmt.Errorf("%s %s: %w", tm.Kind, tm.Metadata.Name, err)
	}
	return nil
}

// render builds a kustomization and decodes every document strictly into
// the k8s.io/api type of its kind.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	var r rendered
	for _, doc := range kustomizeDocs(t, dir) {
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

// service returns the Service named name, failing the test without one.
func (r rendered) service(t *testing.T, name string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	for i, s := range r.services {
		if s.Name == name {
			svc = &r.services[i]
		}
	}
	if svc == nil {
		t.Fatalf("no Service %s", name)
	}
	return svc
}

// selects reports whether a Service selects a Deployment's pods.
func selects(svc *corev1.Service, d appsv1.Deployment) bool {
	return len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels))
}

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

// imageTag returns the tag of an image reference ("" without one).
func imageTag(image string) string {
	name := image[strings.LastIndex(image, "/")+1:]
	if strings.Contains(name, "@") {
		return ""
	}
	_, tag, _ := strings.Cut(name, ":")
	return tag
}
