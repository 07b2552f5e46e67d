package dashboard

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
)

// lockedBuffer is a log sink the server's goroutines may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServerErrorsHideTheCause: over a database without the warehouse's
// tables every read fails in PostgreSQL. The API answers 500 {"error":
// "internal error", "request_id": …} and the page a 503 naming the request
// id, neither with PostgreSQL's text; the log holds that text under the
// same request id.
func TestServerErrorsHideTheCause(t *testing.T) {
	pool, err := db.Open(t.Context(), testenv.Postgres(t)) // not migrated
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var logs lockedBuffer
	srv := httptest.NewServer(New(defaultConfig(t), pool, nil, slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(srv.Close)

	leaks := regexp.MustCompile(`(?i)relation|does not exist|sqlstate|ERROR:|bi\.|cdm\.|stg\.|dds\.`)
	ids := map[string]bool{}
	for _, path := range []string{"/api/users/0123456789abcdef01234567", "/api/top/products", "/api/top/categories?by=users", "/api/tags"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e Error
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
		if resp.StatusCode != http.StatusInternalServerError || e.Error != "internal error" {
			t.Errorf("GET %s: %d %q, want 500 internal error", path, resp.StatusCode, e.Error)
		}
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(e.RequestID) || resp.Header.Get("X-Request-Id") != e.RequestID || ids[e.RequestID] {
			t.Errorf("GET %s: request id %q (header %q), want 16 new hex digits in both", path, e.RequestID, resp.Header.Get("X-Request-Id"))
		}
		ids[e.RequestID] = true
		if leaks.Match(body) {
			t.Errorf("GET %s: the answer shows the database's error: %s", path, body)
		}
		// The log has the real error under that id.
		var line string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "request_id="+e.RequestID) {
				line = l
			}
		}
		if !strings.Contains(line, "does not exist") || !strings.Contains(line, "SQLSTATE 42P01") {
			t.Errorf("GET %s: the log line of request %s lacks PostgreSQL's error: %q", path, e.RequestID, line)
		}
	}

	resp, err := http.Get(srv.URL + "/?refresh=0")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusServiceUnavailable || id == "" || !strings.Contains(string(body), "request id "+id) || leaks.Match(body) {
		t.Errorf("GET /: %d, X-Request-Id %q, body %q; want 503 naming the request id and nothing of the database's error", resp.StatusCode, id, body)
	}
	if !strings.Contains(logs.String(), "request_id="+id) {
		t.Errorf("the page's failure is not logged under %s", id)
	}
}
