package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestOpsEndpoints: the API pod's probes and Prometheus scrape answer on
// the dashboard's own address; readiness follows the warehouse.
func TestOpsEndpoints(t *testing.T) {
	pool := migrated(t, testenv.Postgres(t))
	srv := httptest.NewServer(New(defaultConfig(t), pool, nil, testLogger()))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := get("/api/tags"); code != 200 {
		t.Fatalf("/api/tags: %d", code)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{`orderflow_api_requests_total{code="200",route="/api/tags"}`, "orderflow_build_info{", "orderflow_api_request_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A warehouse that does not answer makes the pod unready.
	down, err := db.Open(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	srv2 := httptest.NewServer(New(defaultConfig(t), down, nil, testLogger()))
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a closed pool: %d, want 503", resp.StatusCode)
	}
}
