package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/starter"
)

func TestHelpListsEveryCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--help"}, &out); err != nil {
		t.Fatal(err)
	}
	for name := range commands {
		if !strings.Contains(out.String(), "\n  "+name+" ") {
			t.Errorf("--help does not list %q", name)
		}
	}
	if err := run([]string{"frobnicate"}, &out); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
}

// TestScheduleAndReplayCommands drives `orderflow schedule …` and
// `orderflow rewind` against the Temporal dev server and a kfake broker.
func TestScheduleAndReplayCommands(t *testing.T) {
	cfg := commandConfig(t, 2, func(c *config.Config) {
		c.Pipeline.ScheduleInterval = time.Hour // no tick during the test
	})
	ctx := context.Background()
	tc := testTemporal(t, cfg)
	id := starter.ScheduleID(cfg, 0)
	describe := func() *client.ScheduleDescription {
		d, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(args, &out); err != nil {
			t.Fatalf("orderflow %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}

	if out := cli("schedule", "ensure"); !strings.Contains(out, id) {
		t.Fatalf("ensure printed %q, want %s", out, id)
	}
	d := describe()
	if d.Schedule.Policy.Overlap.String() != "Skip" || len(d.Schedule.Spec.Intervals) != 1 || d.Schedule.Spec.Intervals[0].Every != time.Hour {
		t.Fatalf("schedule %+v, want every 1h with overlap skip", d.Schedule)
	}

	cli("schedule", "pause", "-note", "db maintenance")
	if d = describe(); !d.Schedule.State.Paused || d.Schedule.State.Note != "db maintenance" {
		t.Fatalf("after pause: paused %v note %q", d.Schedule.State.Paused, d.Schedule.State.Note)
	}
	// ensure again with a new interval: updated, still paused.
	t.Setenv("SCHEDULE_INTERVAL", "2h")
	cli("schedule", "ensure")
	if d = describe(); !d.Schedule.State.Paused || d.Schedule.Spec.Intervals[0].Every != 2*time.Hour {
		t.Fatalf("ensure on a paused schedule: paused %v, every %v; want still paused, 2h", d.Schedule.State.Paused, d.Schedule.Spec.Intervals[0].Every)
	}
	cli("schedule", "resume", "-note", "done")
	if d = describe(); d.Schedule.State.Paused {
		t.Fatal("still paused after resume")
	}
	cli("schedule", "trigger")
	deadline := time.Now().Add(20 * time.Second)
	for d = describe(); d.Info.NumActions == 0 && time.Now().Before(deadline); d = describe() {
		time.Sleep(200 * time.Millisecond)
	}
	if d.Info.NumActions == 0 {
		t.Fatal("trigger started no run")
	}
	if out := cli("schedule", "describe"); !strings.Contains(out, "paused=false") {
		t.Errorf("describe printed %q", out)
	}

	// SHARDS=2: two schedules; the single-shard one is removed.
	t.Setenv("SHARDS", "2")
	cli("schedule", "ensure")
	cfg2 := cfg
	cfg2.Pipeline.Shards = 2
	for _, sid := range starter.ScheduleIDs(cfg2) {
		if _, err := tc.ScheduleClient().GetHandle(ctx, sid).Describe(ctx); err != nil {
			t.Errorf("schedule %s: %v", sid, err)
		}
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedule of SHARDS=1 (%s) is still there", id)
		}
		time.Sleep(500 * time.Millisecond)
		cli("schedule", "ensure") // listing schedules is eventually consistent
	}
	cli("schedule", "delete")

	// Replay: rewind the group to an offset, then to a time.
	testKafka(t, cfg)
	if out := cli("rewind", "-offset", "0"); !strings.Contains(out, "from offset 0") {
		t.Errorf("rewind printed %q", out)
	}
	if out := cli("rewind", "-time", "2026-01-01T00:00:00Z"); !strings.Contains(out, "[0] from offset") || !strings.Contains(out, "[1] from offset") {
		t.Errorf("rewind -time printed %q, want a line per partition", out)
	}
	var out bytes.Buffer
	if err := run([]string{"rewind", "-time", "yesterday"}, &out); err == nil {
		t.Error("rewind -time yesterday: no error")
	}
}

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready {
			http.Error(w, "not ready: redis", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}))
	defer srv.Close()
	t.Setenv("HEALTH_ADDR", strings.TrimPrefix(srv.URL, "http://"))
	var out bytes.Buffer
	if err := run([]string{"healthcheck"}, &out); err != nil || !strings.Contains(out.String(), "healthy") {
		t.Fatalf("ready process: %v, printed %q", err, out.String())
	}
	ready = false
	err := run([]string{"healthcheck"}, &out)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("unready process: %v, want the 503 and the failing dependency", err)
	}
	if got := readyURL("0.0.0.0:8081"); got != "http://127.0.0.1:8081/readyz" {
		t.Errorf("readyURL(0.0.0.0:8081) = %s", got)
	}
}
