package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/devstack"
)

// interpolate resolves Compose's ${NAME:-default} and ${NAME-default} to
// their defaults (what runs when nothing is overridden); a bare ${NAME} or
// $NAME has none and is an error.
func interpolate(s string) (string, error) {
	var err error
	out := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)([^}]*)\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`).ReplaceAllStringFunc(s, func(m string) string {
		sub := regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}$`).FindStringSubmatch(m)
		if sub == nil {
			err = fmt.Errorf("%s has no default", m)
			return m
		}
		return sub[1]
	})
	return out, err
}

// temporalDevVersions returns the Temporal server and UI versions `make
// run` runs: those bin/temporal reports when it is there, else those the
// Temporal CLI release devstack pins builds in (its go.mod, from the module
// proxy or cache).
func temporalDevVersions(t *testing.T) (server, ui string) {
	t.Helper()
	if out, err := exec.Command("../bin/temporal", "--version").Output(); err == nil {
		// temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)
		if m := regexp.MustCompile(`Server ([0-9][^,)\s]*), UI ([0-9][^,)\s]*)`).FindStringSubmatch(string(out)); m != nil {
			return m[1], m[2]
		}
		t.Fatalf("bin/temporal --version: %q", out)
	}
	cmd := exec.Command("go", "list", "-m", "-json", "github.com/temporalio/cli@"+devstack.TemporalCLIVersion)
	cmd.Dir = t.TempDir() // outside this module: go.mod and go.sum stay as they are
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.Output()
	var info struct{ GoMod string }
	if err != nil || json.Unmarshal(out, &info) != nil || info.GoMod == "" {
		t.Fatalf("go list -m github.com/temporalio/cli@%s: %v %s", devstack.TemporalCLIVersion, err, stderr(err))
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^\s*go\.temporal\.io/server v(\S+)`).FindSubmatch(gomod)
	u := regexp.MustCompile(`(?m)^\s*github\.com/temporalio/ui-server/v2 v(\S+)`).FindSubmatch(gomod)
	if s == nil || u == nil {
		t.Fatalf("%s names no Temporal server or UI version", info.GoMod)
	}
	return string(s[1]), string(u[1])
}

// TestComposeImages checks the images of docker-compose.yml: Temporal is
// the server release `make run` runs (no auto-setup image, which Temporal
// no longer publishes for new releases), with its admin tools and UI, and
// every image is pinned to at least a minor version.
func TestComposeImages(t *testing.T) {
	f := loadCompose(t)
	tags := map[string]string{}
	for name, s := range f.Services {
		if s.Build != nil {
			continue // the orderflow image, built here
		}
		image, err := interpolate(s.Image)
		if err != nil {
			t.Errorf("%s: image %q: %v", name, s.Image, err)
			continue
		}
		if strings.Contains(image, "auto-setup") {
			t.Errorf("%s: image %s: temporalio/auto-setup is for development only and not published for new releases; use temporalio/server with a schema one-shot", name, image)
		}
		repo, tag, _ := strings.Cut(image, ":")
		if !regexp.MustCompile(`^\d+\.\d+([.-]|$)`).MatchString(tag) {
			t.Errorf("%s: image %s: want a tag pinned to at least a minor version (like 16.10)", name, image)
		}
		tags[repo] = tag
	}
	server, ui := temporalDevVersions(t)
	if got := tags["temporalio/server"]; got != server {
		t.Errorf("temporalio/server:%s, want %s, the server `make run` runs", got, server)
	}
	if got := tags["temporalio/admin-tools"]; got != server && !strings.HasPrefix(got, server+"-") {
		t.Errorf("temporalio/admin-tools:%s, want the tools of server %s", got, server)
	}
	if got := tags["temporalio/ui"]; got != ui {
		t.Errorf("temporalio/ui:%s, want %s, the UI `make run` serves", got, ui)
	}
}
