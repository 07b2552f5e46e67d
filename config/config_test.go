package config

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// lookupMap turns KEY=VALUE lines into a lookup for Load and records which
// keys Load asked for.
func lookupMap(env []string, asked map[string]bool) func(string) (string, bool) {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) {
		if asked != nil {
			asked[k] = true
		}
		v, ok := m[k]
		return v, ok
	}
}

// TestEnvironRoundTrip pins Environ to Load: every key Load reads is
// rendered, nothing else is, and loading the rendering gives the same Config.
func TestEnvironRoundTrip(t *testing.T) {
	asked := map[string]bool{}
	def, err := Load(lookupMap(nil, asked))
	if err != nil {
		t.Fatal(err)
	}
	// A configuration with every field away from its default.
	c := def
	c.Kafka.Brokers = []string{"k1:9092", "k2:9092"}
	c.Kafka.SASLMechanism, c.Kafka.SASLUser, c.Kafka.SASLPassword = "PLAIN", "u", "p"
	c.Kafka.TLS, c.Kafka.TLSCAFile, c.Kafka.TLSSkipVerify = true, "/ca.pem", true
	c.Temporal = Temporal{Address: "t:7233", Namespace: "ns", TaskQueuePrefix: "q", TLS: true,
		TLSCAFile: "/tca", TLSCertFile: "/c", TLSKeyFile: "/k", TLSServerName: "srv", APIKey: "secret",
		WorkerStopTimeout: 42 * time.Second}
	c.Pipeline.BatchSize, c.Pipeline.DrainBatchSize, c.Pipeline.Shards = 7, 70, 3
	c.LogFormat, c.LogLevel = "json", "debug"
	c.WorkerRoles = []Role{RoleDds}
	c.Sim.PerMinute = 2.5
	c.MaxPoison = 3

	env := c.Environ()
	rendered := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		rendered[k] = true
	}
	var missing, extra []string
	for k := range asked {
		if !rendered[k] {
			missing = append(missing, k)
		}
	}
	for k := range rendered {
		if !asked[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("Environ and Load disagree: read but not rendered %v; rendered but not read %v", missing, extra)
	}
	back, err := Load(lookupMap(env, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", back, c)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	cases := map[string][]string{
		"LOG_LEVEL":              {"LOG_LEVEL=loud"},
		"LOG_FORMAT":             {"LOG_FORMAT=xml"},
		"TEMPORAL_TLS_CERT_FILE": {"TEMPORAL_TLS_CERT_FILE=/c.pem"},
		"WORKER_STOP_TIMEOUT":    {"WORKER_STOP_TIMEOUT=soon"},
		"BATCH_SIZE":             {"BATCH_SIZE=0"},
		"WORKER_ROLES":           {"WORKER_ROLES=stg,xyz"},
	}
	for key, env := range cases {
		if _, err := Load(lookupMap(env, nil)); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: error %v does not name %s", env, err, key)
		}
	}
}

func TestUsesTLS(t *testing.T) {
	for _, tc := range []struct {
		t    Temporal
		want bool
	}{
		{Temporal{}, false},
		{Temporal{TLS: true}, true},
		{Temporal{APIKey: "k"}, true},
		{Temporal{TLSCAFile: "/ca"}, true},
		{Temporal{TLSCertFile: "/c", TLSKeyFile: "/k"}, true},
	} {
		if got := tc.t.UsesTLS(); got != tc.want {
			t.Errorf("%+v: UsesTLS %v, want %v", tc.t, got, tc.want)
		}
	}
}
