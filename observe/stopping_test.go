package observe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/observe"
)

// TestStoppingIsNotReady: once the process stops, /readyz answers 503
// without asking the dependencies, while /healthz still answers ok.
func TestStoppingIsNotReady(t *testing.T) {
	probed := 0
	s := observe.NewServer(observe.Options{Checks: []observe.Check{{Name: "dep", Probe: func(context.Context) error { probed++; return nil }}}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready\n") {
		t.Fatalf("/readyz before stopping: %d %q", code, body)
	}
	s.SetStopping()
	probed = 0
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: stopping\n" {
		t.Errorf("/readyz while stopping: %d %q, want 503 %q", code, body, "not ready: stopping\n")
	}
	if probed != 0 {
		t.Errorf("/readyz probed the dependencies %d time(s) while stopping", probed)
	}
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz while stopping: %d %q, want 200 ok", code, body)
	}
}
