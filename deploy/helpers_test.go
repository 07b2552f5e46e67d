package deploy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"testing"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/orderflow/orderflow/config"
)

// Helpers the tests of several files share.

// monitoringDir holds the monitoring: alerting rules (rules.yaml, the
// source of truth, and the same groups in prometheusrule.yaml), their
// promtool unit tests, the PodMonitors and the Grafana dashboard.
const monitoringDir = "monitoring"

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

// kustomizeDocs renders dir with kustomize (build) and returns its
// documents as JSON, failing the test when it cannot.
func kustomizeDocs(t *testing.T, dir string) [][]byte {
	t.Helper()
	docs, err := build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// objectHeader is what every Kubernetes object starts with: its apiVersion,
// kind, name and labels.
type objectHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
}

// readYAML decodes a YAML file strictly into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
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

// hostPort returns the host:port of a URL.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("%q: %v", rawURL, err)
	}
	return u.Host
}

// stderr is what a failed command wrote to stderr, if it was captured.
func stderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
