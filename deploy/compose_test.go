package deploy

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/orderflow/orderflow/config"
)

// composeService is the part of the Compose specification that
// docker-compose.yml uses; decoding is strict, so anything else (or a
// misspelling) fails the test until it is added here on purpose.
type composeService struct {
	Image string `json:"image,omitempty"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build,omitempty"`
	Entrypoint  []string          `json:"entrypoint,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on,omitempty"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval"`
		Timeout     string   `json:"timeout"`
		Retries     int      `json:"retries"`
		StartPeriod string   `json:"start_period,omitempty"`
	} `json:"healthcheck,omitempty"`
	Restart         string   `json:"restart,omitempty"`
	StopGracePeriod string   `json:"stop_grace_period,omitempty"`
	ReadOnly        bool     `json:"read_only,omitempty"`
	Tmpfs           []string `json:"tmpfs,omitempty"`
	CapDrop         []string `json:"cap_drop,omitempty"`
	SecurityOpt     []string `json:"security_opt,omitempty"`
}

type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]*struct{}      `json:"volumes,omitempty"`
}

// loadCompose reads ../docker-compose.yml (anchors and merge keys resolved),
// drops the top-level x- extension fields and decodes the rest strictly.
func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for k := range top {
		if strings.HasPrefix(k, "x-") {
			delete(top, k)
		}
	}
	doc, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := decodeStrict(doc, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

// The services of the stack and what each orderflow service runs.
var (
	infraServices = []string{"kafka", "kafka-topics", "postgres", "redis", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui"}
	oneShots      = []string{"kafka-topics", "temporal-schema", "temporal-namespace", "migrate", "starter"}
	orderflowCmds = map[string][]string{
		"migrate":    {"migrate"},
		"starter":    {"schedule", "ensure"},
		"worker-stg": {"worker"},
		"worker-dds": {"worker"},
		"worker-cdm": {"worker"},
		"simulator":  {"simulate"},
		"dashboard":  {"dashboard"},
	}
)

// hostOf returns the host of a host:port, a URL, or the first of a
// comma-separated list of either.
func hostOf(addr string) string {
	addr, _, _ = strings.Cut(addr, ",")
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// TestComposeFile checks docker-compose.yml without a Docker engine: the
// services, their health checks and start order, and every orderflow
// service's command and settings.
func TestComposeFile(t *testing.T) {
	f := loadCompose(t)
	known := configKeys(t)
	defaults, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}

	for _, name := range append(slices.Clone(infraServices), "migrate", "starter", "worker-stg", "worker-dds", "worker-cdm", "simulator", "dashboard") {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %s", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// A stopping worker finishes its running activity: Docker must wait
	// longer than WORKER_STOP_TIMEOUT before it kills the container.
	for _, name := range []string{"worker-stg", "worker-dds", "worker-cdm"} {
		grace, err := time.ParseDuration(f.Services[name].StopGracePeriod)
		if err != nil || grace < defaults.Temporal.WorkerStopTimeout+5*time.Second {
			t.Errorf("%s: stop_grace_period %q, want at least WORKER_STOP_TIMEOUT (%s) + 5s", name, f.Services[name].StopGracePeriod, defaults.Temporal.WorkerStopTimeout)
		}
	}

	// The infrastructure.
	if img := f.Services["postgres"].Image; !strings.HasPrefix(img, "postgres:16") {
		t.Errorf("postgres image %q, want postgres:16", img)
	}
	if img := f.Services["redis"].Image; !strings.HasPrefix(img, "redis:7") {
		t.Errorf("redis image %q, want redis:7", img)
	}
	kafka := f.Services["kafka"]
	if !strings.HasPrefix(kafka.Image, "apache/kafka:") && !strings.HasPrefix(kafka.Image, "bitnami/kafka:") {
		t.Errorf("kafka image %q, want apache/kafka or bitnami/kafka", kafka.Image)
	}
	if roles := kafka.Environment["KAFKA_PROCESS_ROLES"] + kafka.Environment["KAFKA_CFG_PROCESS_ROLES"]; !strings.Contains(roles, "controller") || !strings.Contains(roles, "broker") {
		t.Errorf("kafka process roles %q: want KRaft (broker,controller)", roles)
	}
	topics := strings.Join(f.Services["kafka-topics"].Command, " ")
	for _, topic := range []string{defaults.Kafka.InputTopic, defaults.Kafka.StgTopic, defaults.Kafka.DdsTopic} {
		if !strings.Contains(topics, topic) {
			t.Errorf("kafka-topics does not create %s", topic)
		}
	}
	if !strings.HasPrefix(f.Services["temporal"].Image, "temporalio/server:") {
		t.Errorf("temporal image %q, want temporalio/server", f.Services["temporal"].Image)
	}
	for _, name := range []string{"temporal-schema", "temporal-namespace"} {
		if !strings.HasPrefix(f.Services[name].Image, "temporalio/admin-tools:") {
			t.Errorf("%s image %q, want temporalio/admin-tools", name, f.Services[name].Image)
		}
	}
	if script := strings.Join(f.Services["temporal-schema"].Command, " "); !strings.Contains(script, "temporal-sql-tool") || !strings.Contains(script, "update-schema") || !strings.Contains(script, "temporal_visibility") {
		t.Errorf("temporal-schema does not set up both databases with temporal-sql-tool: %s", script)
	}
	if d := f.Services["temporal"].DependsOn["temporal-schema"]; d.Condition != "service_completed_successfully" {
		t.Errorf("temporal does not wait for temporal-schema to complete")
	}
	if script := strings.Join(f.Services["temporal-namespace"].Command, " "); !strings.Contains(script, "namespace create") || f.Services["temporal-namespace"].Environment["TEMPORAL_NAMESPACE"] != defaults.Temporal.Namespace {
		t.Errorf("temporal-namespace does not create the namespace %s", defaults.Temporal.Namespace)
	}
	if !slices.ContainsFunc(f.Services["temporal-ui"].Ports, func(p string) bool { return strings.HasSuffix(strings.TrimSuffix(p, ":8080"), "8233") }) {
		t.Errorf("temporal-ui ports %v: want the UI on host port 8233", f.Services["temporal-ui"].Ports)
	}

	// Health checks, restart policies and start order.
	for name, s := range f.Services {
		oneShot := slices.Contains(oneShots, name)
		if oneShot {
			if s.Restart != "on-failure" && s.Restart != "no" && s.Restart != "" {
				t.Errorf("%s is one-shot but restart: %s (it would run again after succeeding)", name, s.Restart)
			}
		} else if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Interval == "" || s.Healthcheck.Retries < 1 {
			t.Errorf("%s has no complete healthcheck: %+v", name, s.Healthcheck)
		} else if t0 := s.Healthcheck.Test[0]; t0 != "CMD" && t0 != "CMD-SHELL" {
			t.Errorf("%s healthcheck test starts with %q, want CMD or CMD-SHELL", name, t0)
		}
		for dep, d := range s.DependsOn {
			target, ok := f.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, no such service", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			case d.Condition == "service_completed_successfully" && !slices.Contains(oneShots, dep):
				t.Errorf("%s waits for %s to complete, which is no one-shot", name, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully" && d.Condition != "service_started":
				t.Errorf("%s depends on %s with condition %q", name, dep, d.Condition)
			}
		}
	}
	// needs returns every service name starts after (depends_on, transitively).
	var needs func(name string, seen map[string]bool) map[string]bool
	needs = func(name string, seen map[string]bool) map[string]bool {
		for dep := range f.Services[name].DependsOn {
			if !seen[dep] {
				seen[dep] = true
				needs(dep, seen)
			}
		}
		return seen
	}
	for name := range f.Services {
		if needs(name, map[string]bool{})[name] {
			t.Errorf("%s depends on itself through depends_on", name)
		}
	}

	// The orderflow services: one image built from deploy/Dockerfile, the
	// right command, known settings pointing at services of this file.
	image := ""
	for name, s := range f.Services {
		want, isOrderflow := orderflowCmds[name]
		if !isOrderflow {
			if s.Build != nil {
				t.Errorf("%s builds an image but is no orderflow service", name)
			}
			continue
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s is not built from deploy/Dockerfile: %+v", name, s.Build)
		} else if _, err := os.Stat(filepath.Join("..", s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: build context %q: %v", name, s.Build.Context, err)
		}
		if image == "" {
			image = s.Image
		} else if s.Image != image {
			t.Errorf("%s uses image %q, the others %q: one image for every role", name, s.Image, image)
		}
		if !slices.Equal(s.Command, want) || len(s.Entrypoint) > 0 {
			t.Errorf("%s runs %v %v, want the image's entrypoint with %v", name, s.Entrypoint, s.Command, want)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("%s: want read_only and cap_drop ALL, as in Kubernetes", name)
		}
		env := s.Environment
		for k := range env {
			if !known[k] {
				t.Errorf("%s: environment %s is no setting of config.Load", name, k)
			}
		}
		cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Errorf("%s: settings do not load: %v", name, err)
			continue
		}
		deps := needs(name, map[string]bool{})
		for key, svc := range map[string]string{
			"KAFKA_BROKERS":    "kafka",
			"PG_DSN":           "postgres",
			"REDIS_ADDR":       "redis",
			"TEMPORAL_ADDRESS": "temporal",
		} {
			v, ok := env[key]
			if !ok {
				t.Errorf("%s: no %s", name, key)
				continue
			}
			if host := hostOf(v); host != svc {
				t.Errorf("%s: %s=%s points at %q, want the %s service", name, key, v, host, svc)
			}
			// What the command uses must be up before it starts.
			used := map[string][]string{
				"migrate":   {"PG_DSN"},
				"starter":   {"TEMPORAL_ADDRESS"},
				"simulator": {"KAFKA_BROKERS", "REDIS_ADDR"},
				"dashboard": {"PG_DSN", "KAFKA_BROKERS", "REDIS_ADDR"},
			}[name]
			if strings.HasPrefix(name, "worker-") {
				used = []string{"KAFKA_BROKERS", "PG_DSN", "REDIS_ADDR", "TEMPORAL_ADDRESS"}
			}
			if slices.Contains(used, key) && !deps[svc] {
				t.Errorf("%s uses %s (%s) but does not wait for it in depends_on", name, svc, key)
			}
			if slices.Contains(used, "TEMPORAL_ADDRESS") && key == "TEMPORAL_ADDRESS" && f.Services[name].DependsOn["temporal-namespace"].Condition != "service_completed_successfully" {
				t.Errorf("%s uses Temporal's namespace but does not wait for temporal-namespace to complete", name)
			}
		}
		if strings.HasPrefix(name, "worker-") {
			role := strings.TrimPrefix(name, "worker-")
			if !slices.Equal(cfg.WorkerRoles, []config.Role{config.Role(role)}) {
				t.Errorf("%s: WORKER_ROLES=%q, want %s", name, env["WORKER_ROLES"], role)
			}
			if host := hostOf(cfg.HealthAddr); host != "0.0.0.0" {
				t.Errorf("%s: HEALTH_ADDR=%s, want 0.0.0.0:<port> (reachable from outside the container)", name, cfg.HealthAddr)
			}
		} else if _, ok := env["WORKER_ROLES"]; ok {
			t.Errorf("%s sets WORKER_ROLES", name)
		}
		if name == "dashboard" {
			_, port, _ := net.SplitHostPort(cfg.DashboardAddr)
			if hostOf(cfg.DashboardAddr) != "0.0.0.0" || !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
				t.Errorf("dashboard: DASHBOARD_ADDR=%s and ports %v: want 0.0.0.0:<port> published", cfg.DashboardAddr, s.Ports)
			}
		}
	}
	if !strings.Contains(image, "orderflow") {
		t.Errorf("orderflow image name %q", image)
	}

	// Named volumes are declared.
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s mounts volume %s, not declared under volumes", name, src)
				}
			}
		}
	}
}
