package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// The CRDs' schemas come from the operators' own Go modules (fetched with
// `go mod download`, like any dependency): the versions their manifests
// here are written for.
const (
	kedaModule               = "github.com/kedacore/keda/v2@v2.21.0" // v2.21.1 needs Go 1.27
	kedaCRDs                 = "config/crd/bases"
	prometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
	prometheusOperatorCRDs   = "example/prometheus-operator-crd"
)

// kustomizations are the directories TestManifestsValidate renders; the
// KEDA component is also rendered over the bare base (keda-over-base).
var kustomizations = []string{"k8s/base", "k8s/overlays/production", "keda-over-base", "monitoring"}

// moduleDir downloads a module (module@version) into the module cache and
// returns its directory. It runs outside this module, so go.mod and go.sum
// stay as they are.
func moduleDir(t *testing.T, module string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Dir == "" {
		t.Fatalf("go mod download %s: %v %s %s", module, err, info.Error, stderr(err))
	}
	return info.Dir
}

// kubernetesVersion is the k8s.io/kubernetes release matching the
// k8s.io/api this module builds with (v0.X.Y is Kubernetes v1.X.Y).
func kubernetesVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "k8s.io/api").Output()
	if err != nil {
		t.Fatalf("go list -m k8s.io/api: %v %s", err, stderr(err))
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "v0.")
	if !ok {
		t.Fatalf("k8s.io/api version %q is not v0.X.Y", out)
	}
	return "v1." + v
}

// strictify makes an OpenAPI schema strict, in place: an object that lists
// its properties allows no others (unless it says it keeps unknown fields),
// so a misspelled field fails validation as the API server's strict field
// validation would refuse it.
func strictify(s any) {
	m, ok := s.(map[string]any)
	if !ok {
		return
	}
	if props, ok := m["properties"].(map[string]any); ok {
		if _, set := m["additionalProperties"]; !set && m["x-kubernetes-preserve-unknown-fields"] != true {
			m["additionalProperties"] = false
		}
		for _, p := range props {
			strictify(p)
		}
	}
	for _, key := range []string{"additionalProperties", "items", "not"} {
		strictify(m[key])
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := m[key].([]any); ok {
			for _, sub := range list {
				strictify(sub)
			}
		}
	}
	if list, ok := m["items"].([]any); ok {
		for _, sub := range list {
			strictify(sub)
		}
	}
}

// schemaFile names a kind's schema as kubeconform's path template
// "{{ .ResourceKind }}{{ .KindSuffix }}.json" does: deployment-apps-v1.json,
// service-v1.json, scaledobject-keda-v1alpha1.json.
func schemaFile(dir, group, version, kind string) string {
	suffix := ""
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return filepath.Join(dir, strings.ToLower(kind)+suffix+"-"+strings.ToLower(version)+".json")
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// kubernetesSchemas writes a strict JSON schema for every kind of the
// Kubernetes API, from the OpenAPI (v2) document of the k8s.io/kubernetes
// release matching k8s.io/api: one file of definitions, and per kind a file
// pointing into it.
func kubernetesSchemas(t *testing.T, dir string) {
	t.Helper()
	k8s := moduleDir(t, "k8s.io/kubernetes@"+kubernetesVersion(t))
	data, err := os.ReadFile(filepath.Join(k8s, "api/openapi-spec/swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("swagger.json: %v", err)
	}
	// Types whose JSON form the document cannot express in its own terms.
	for name, s := range map[string]map[string]any{
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}},
		"io.k8s.apimachinery.pkg.api.resource.Quantity":   {"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
	} {
		if _, ok := doc.Definitions[name]; !ok {
			t.Fatalf("swagger.json has no %s", name)
		}
		doc.Definitions[name] = s
	}
	for _, s := range doc.Definitions {
		strictify(s)
	}
	writeJSON(t, filepath.Join(dir, "_definitions.json"), map[string]any{"definitions": doc.Definitions})
	kinds := 0
	for name, s := range doc.Definitions {
		gvks, _ := s["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			ref := map[string]any{"$ref": "_definitions.json#/definitions/" + name}
			writeJSON(t, schemaFile(dir, gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)), ref)
			kinds++
		}
	}
	if kinds < 50 {
		t.Fatalf("swagger.json gave only %d kinds", kinds)
	}
}

// crdSchemas writes a strict JSON schema for every version of every
// CustomResourceDefinition in the YAML files of dir.
func crdSchemas(t *testing.T, crdDir, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", crdDir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			s := v.Schema.OpenAPIV3Schema
			if s == nil {
				t.Fatalf("%s %s: no openAPIV3Schema", f, v.Name)
			}
			strictify(s)
			writeJSON(t, schemaFile(dir, crd.Spec.Group, v.Name, crd.Spec.Names.Kind), s)
		}
	}
}

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
			docs, err := build(dir)
			if err != nil {
				t.Fatal(err)
			}
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
		docs, err := build(dir)
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(c.check(docs), "\n")
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
