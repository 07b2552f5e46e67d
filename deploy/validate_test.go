package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// kustomizations are the directories TestManifestsValidate renders; the
// KEDA component is also rendered over the bare base (keda-over-base).
var kustomizations = []string{"k8s/base", "k8s/overlays/production", "keda-over-base", "monitoring"}

// checker validates rendered manifests: every object against its kind's
// strict schema (kubeconform), every pod template against the restricted
// Pod Security Standard (the admission plugin's own checks).
type checker struct {
	schemas validator.Validator
	pss     policy.Evaluator
}

func newChecker(t *testing.T) checker {
	t.Helper()
	dir := t.TempDir()
	kubernetesSchemas(t, dir)
	crdSchemas(t, filepath.Join(moduleDir(t, kedaModule), kedaCRDs), dir)
	crdSchemas(t, filepath.Join(moduleDir(t, prometheusOperatorModule), prometheusOperatorCRDs), dir)
	v, err := validator.New([]string{filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")}, validator.Opts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return checker{v, e}
}

// podTemplate returns the pod template of a workload (or a bare Pod).
func podTemplate(kind string, doc []byte) (*corev1.PodTemplateSpec, error) {
	switch kind {
	case "Pod":
		var p corev1.Pod
		err := json.Unmarshal(doc, &p)
		return &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}, err
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		var w struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		err := json.Unmarshal(doc, &w)
		return &w.Spec.Template, err
	case "CronJob":
		var w struct {
			Spec struct {
				JobTemplate struct {
					Spec struct {
						Template corev1.PodTemplateSpec `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		err := json.Unmarshal(doc, &w)
		return &w.Spec.JobTemplate.Spec.Template, err
	}
	return nil, nil
}

// check returns what is wrong with the documents, one line per problem.
func (c checker) check(docs [][]byte) []string {
	var problems []string
	for _, doc := range docs {
		var meta struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(doc, &meta); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		what := meta.Kind + "/" + meta.Metadata.Name
		res := c.schemas.ValidateResource(resource.Resource{Path: what, Bytes: doc})
		switch res.Status {
		case validator.Valid:
		case validator.Invalid:
			// kubeconform's ValidationErrors stop at the $ref into the
			// definitions; its error names the innermost places ("at '/spec/...': ...").
			msg := res.Err.Error()
			if i := strings.Index(msg, " - at "); i >= 0 {
				msg = msg[i+len(" - "):]
			}
			problems = append(problems, fmt.Sprintf("%s: schema: %s", what, msg))
		default: // no schema, skipped, unreadable: nothing goes unchecked
			problems = append(problems, fmt.Sprintf("%s: schema: status %d: %v", what, res.Status, res.Err))
		}
		tpl, err := podTemplate(meta.Kind, doc)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", what, err))
		}
		if tpl == nil {
			continue
		}
		lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
		for _, r := range c.pss.EvaluatePod(lv, &tpl.ObjectMeta, &tpl.Spec) {
			if !r.Allowed {
				problems = append(problems, fmt.Sprintf("%s: pod security (restricted): %s: %s", what, r.ForbiddenReason, r.ForbiddenDetail))
			}
		}
	}
	return problems
}

// writeKustomization writes a kustomization.yaml (and more files) into a
// new directory and returns it.
func writeKustomization(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestManifestsValidate renders every kustomization (the base, the
// production overlay, the KEDA component over the bare base, and
// deploy/monitoring) and checks each object against the strict schema of
// its kind, from the Kubernetes release of k8s.io/api and from the KEDA and
// Prometheus Operator CRDs, and each pod template against the restricted
// Pod Security Standard. A broken manifest must fail both checks.
func TestManifestsValidate(t *testing.T) {
	c := newChecker(t)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, name := range kustomizations {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			dir := name
			switch name {
			case "keda-over-base":
				// Kustomize refuses absolute paths: point at them from the new directory.
				dir = t.TempDir()
				rel := func(p string) string {
					r, err := filepath.Rel(dir, abs(p))
					if err != nil {
						t.Fatal(err)
					}
					return r
				}
				kust := fmt.Sprintf("resources: [%q]\ncomponents: [%q]\n", rel("k8s/base"), rel("k8s/components/keda"))
				if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
					t.Fatal(err)
				}
			case "monitoring":
				if _, err := os.Stat("monitoring/kustomization.yaml"); err != nil {
					t.Skip("no deploy/monitoring")
				}
			}
			docs := kustomizeDocs(t, dir)
			if len(docs) == 0 {
				t.Fatalf("%s renders nothing", name)
			}
			for _, p := range c.check(docs) {
				t.Error(p)
			}
		})
	}

	t.Run("broken", func(t *testing.T) {
		// A misspelled field (resource: for resources:), and a pod that
		// runs as root and may escalate its privileges.
		dir := writeKustomization(t, map[string]string{
			"kustomization.yaml": "resources: [deployment.yaml]\n",
			"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      securityContext:
        runAsUser: 0
      containers:
        - name: broken
          image: orderflow:dev
          resource:
            limits: {memory: 64Mi}
          securityContext:
            allowPrivilegeEscalation: true
`})
		problems := strings.Join(c.check(kustomizeDocs(t, dir)), "\n")
		for _, want := range []string{
			"schema: at '/spec/template/spec/containers/0': additional properties 'resource' not allowed",
			"pod security (restricted): allowPrivilegeEscalation != false",
			"pod security (restricted): runAsUser=0",
		} {
			if !strings.Contains(problems, want) {
				t.Errorf("the broken manifest's problems lack %q; they are:\n%s", want, problems)
			}
		}
	})
}
