package activities

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/refdata"
)

func TestParsePoisonHook(t *testing.T) {
	h, err := ParsePoisonHook("LoadStg:2:41")
	if err != nil || h == nil || *h != (PoisonHook{Activity: "LoadStg", Partition: 2, Offset: 41}) {
		t.Fatalf("got %+v, %v", h, err)
	}
	if h, err := ParsePoisonHook(""); h != nil || err != nil {
		t.Fatalf("empty: got %+v, %v; want no hook", h, err)
	}
	for _, bad := range []string{"LoadStg", "LoadStg:x:1", ":1:2", "LoadStg:1:2:3", "LoadStage:1:2"} {
		if _, err := ParsePoisonHook(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

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
