package observe_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/orderflow/orderflow/internal/buildinfo"
	"github.com/orderflow/orderflow/observe"
)

// scrapeMetrics is /metrics of a health server with no checks.
func scrapeMetrics(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	observe.NewServer(observe.Options{}).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// TestBuildInfoMetric sets buildinfo's variables (what -ldflags -X does),
// then gathers observe.Registry and scrapes /metrics: orderflow_build_info
// is 1 with the stamped version and commit.
func TestBuildInfoMetric(t *testing.T) {
	oldVersion, oldCommit := buildinfo.Version, buildinfo.Commit
	t.Cleanup(func() { buildinfo.Version, buildinfo.Commit = oldVersion, oldCommit })
	buildinfo.Version, buildinfo.Commit = "v1.2.3-test", "abc1234"

	families, err := observe.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range families {
		if f.GetName() != "orderflow_build_info" {
			continue
		}
		if f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("orderflow_build_info is a %s, want a gauge", f.GetType())
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			found = append(found, fmt.Sprintf("%v=%v", labels, m.GetGauge().GetValue()))
		}
	}
	if want := "map[commit:abc1234 version:v1.2.3-test]=1"; len(found) != 1 || found[0] != want {
		t.Errorf("gathered orderflow_build_info %q, want one series %s", found, want)
	}
	if v, ok := metricValue(scrapeMetrics(t), `orderflow_build_info{commit="abc1234",version="v1.2.3-test"}`); !ok || v != 1 {
		t.Errorf("/metrics: orderflow_build_info = %v (present %v), want 1 with the stamped labels", v, ok)
	}

	// Unstamped: version dev and a commit all the same (the VCS revision Go
	// recorded, or "unknown").
	buildinfo.Version, buildinfo.Commit = "dev", ""
	version, commit := buildinfo.Get()
	if version != "dev" || commit == "" {
		t.Fatalf("unstamped buildinfo.Get() = %q, %q", version, commit)
	}
	if v, ok := metricValue(scrapeMetrics(t), `orderflow_build_info{commit="`+commit+`",version="dev"}`); !ok || v != 1 {
		t.Errorf("unstamped: orderflow_build_info{commit=%q,version=\"dev\"} = %v (present %v), want 1", commit, v, ok)
	}
}

// TestBuildInfoLdflags builds this package's tests again with the -ldflags
// of `make build` and deploy/Dockerfile and runs itself in that binary,
// which checks that the scrape carries the stamped labels.
func TestBuildInfoLdflags(t *testing.T) {
	const env = "ORDERFLOW_TEST_BUILDINFO" // "version commit" in the stamped child
	if want := os.Getenv(env); want != "" {
		wantVersion, wantCommit, _ := strings.Cut(want, " ")
		if v, c := buildinfo.Get(); v != wantVersion || c != wantCommit {
			t.Fatalf("stamped binary: buildinfo.Get() = %q, %q, want %q, %q", v, c, wantVersion, wantCommit)
		}
		series := `orderflow_build_info{commit="` + wantCommit + `",version="` + wantVersion + `"}`
		if v, ok := metricValue(scrapeMetrics(t), series); !ok || v != 1 {
			t.Fatalf("stamped binary: %s = %v (present %v), want 1", series, v, ok)
		}
		return
	}
	if testing.Short() {
		t.Skip("-short: skips relinking the test binary")
	}
	const pkg = "github.com/orderflow/orderflow/internal/buildinfo"
	version, commit := "v9.8.7-ldflags", "f00dbab"
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestBuildInfoLdflags$",
		"-ldflags", "-X "+pkg+".Version="+version+" -X "+pkg+".Commit="+commit, ".")
	cmd.Env = append(os.Environ(), env+"="+version+" "+commit)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test with -ldflags -X: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ok") {
		t.Errorf("go test with -ldflags -X did not pass:\n%s", out)
	}
}
