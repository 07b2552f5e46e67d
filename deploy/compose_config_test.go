package deploy

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// composeCommand finds a Compose implementation that validates without an
// engine: docker-compose (v1, Debian's package) or the docker compose
// plugin. As root with apt-get it installs Debian's docker-compose when
// neither is there; otherwise it fails saying what to install.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.Command(p, "compose", "version").Run() == nil {
			return []string{p, "compose"}
		}
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		t.Fatalf("no docker-compose (or docker compose plugin) to validate docker-compose.yml; install it (Debian: apt-get install docker-compose) or run the tests as root on Debian, where this test installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := func() ([]byte, error) {
		// Another apt-get (a parallel test installing its own tool) may hold
		// the dpkg lock: wait for it rather than fail.
		cmd := exec.CommandContext(ctx, apt, "-o", "DPkg::Lock::Timeout=180", "install", "-y", "-qq", "--no-install-recommends", "docker-compose")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	t.Logf("installing docker-compose with apt-get (once)")
	if out, err := install(); err != nil {
		t.Logf("apt-get install failed (%v), updating the package lists first:\n%s", err, out)
		if out, err := exec.CommandContext(ctx, apt, "-o", "DPkg::Lock::Timeout=180", "update", "-qq").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		if out, err := install(); err != nil {
			t.Fatalf("apt-get install docker-compose: %v\n%s", err, out)
		}
	}
	p, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatalf("docker-compose installed but not found: %v", err)
	}
	return []string{p}
}

// TestComposeConfig runs `docker-compose config -q`, Compose's own schema
// and interpolation check, which needs no Docker engine.
func TestComposeConfig(t *testing.T) {
	argv := append(composeCommand(t), "-f", "docker-compose.yml", "config", "-q")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Logf("%s says:\n%s", strings.Join(argv, " "), s)
	}
}
