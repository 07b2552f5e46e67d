package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The strict JSON schemas TestManifestsValidate checks the manifests against.

// The CRDs' schemas come from the operators' own Go modules (fetched with
// `go mod download`, like any dependency): the versions their manifests
// here are written for.
const (
	kedaModule               = "github.com/kedacore/keda/v2@v2.21.0" // v2.21.1 needs Go 1.27
	kedaCRDs                 = "config/crd/bases"
	prometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
	prometheusOperatorCRDs   = "example/prometheus-operator-crd"
)

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
