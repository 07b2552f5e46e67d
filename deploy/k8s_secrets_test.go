package deploy

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The example Secrets (k8s/base/secret.example.yaml) against what the
// manifests read.

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
