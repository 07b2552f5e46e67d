package activities

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/refdata"
)

// A user whose Redis value is not JSON loads as unknown, and is logged.
func TestBrokenUsersAreLogged(t *testing.T) {
	var buf bytes.Buffer
	a := &Activities{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	snap := refdata.Snapshot{Broken: map[string]string{"u2": "invalid character 'x'"}}
	var res EnrichResult
	a.warnBrokenUsers("b1", []string{"u1", "u2"}, snap, &res)
	if res.BrokenUsers != 1 || !strings.Contains(buf.String(), "u2 (invalid character 'x')") || !strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("broken users %d, log %q", res.BrokenUsers, buf.String())
	}
	buf.Reset()
	res = EnrichResult{}
	a.warnBrokenUsers("b2", []string{"u1"}, snap, &res)
	if buf.Len() != 0 {
		t.Fatalf("logged %q for a batch without broken users", buf.String())
	}
}
