package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The container image: deploy/Dockerfile, .dockerignore, and the version
// stamping of the binary (make build and the Dockerfile).

// TestImage checks the Dockerfile's promises, that .dockerignore keeps every
// file the build needs, and that the binary builds without cgo (static).
func TestImage(t *testing.T) {
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^FROM golang:1\.26\S* AS build$`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static-debian12:nonroot$`),
		regexp.MustCompile(`CGO_ENABLED=0`),
		regexp.MustCompile(`go build -trimpath -ldflags "-s -w( -X [^" ]+)*" -o /out/orderflow \./cmd/orderflow`), // -X: the version stamp
		regexp.MustCompile(`(?m)^COPY --from=build /out/orderflow /orderflow$`),
		regexp.MustCompile(`(?m)^USER nonroot`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/orderflow"\]$`),
		regexp.MustCompile(`(?m)^CMD \["worker"\]$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if n := strings.Count(text, "\nFROM "); n != 2 {
		t.Errorf("Dockerfile has %d stages, want 2 (build, runtime)", n)
	}

	// The files `go build ./cmd/orderflow` reads, relative to the repository root.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`, "./cmd/orderflow")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list ./cmd/orderflow: %v\n%s", err, stderr(err))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, fields[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency, downloaded in the image
		}
		for _, f := range fields[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			t.Errorf(".dockerignore exception %q: this test's matcher does not handle exceptions", p)
			continue
		}
		for _, f := range needed {
			if dockerignoreMatch(p, f) {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", p, f)
			}
		}
	}
	for _, p := range []string{".git", "bin", "data"} {
		if !slices.ContainsFunc(strings.Split(string(ignore), "\n"), func(l string) bool {
			return dockerignoreMatch(strings.TrimSpace(l), p) && !strings.HasPrefix(strings.TrimSpace(l), "#") && strings.TrimSpace(l) != ""
		}) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}

	// Static: nothing in the build needs cgo.
	cmd = exec.Command("go", "list", "-deps", "./cmd/orderflow")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list -deps: %v\n%s", err, stderr(err))
	}
	if slices.Contains(strings.Fields(string(out)), "runtime/cgo") {
		t.Errorf("./cmd/orderflow depends on runtime/cgo with CGO_ENABLED=0")
	}
}

// dockerignoreMatch reports whether a .dockerignore pattern excludes path
// (slash-separated, relative to the context) or one of its parent folders.
func dockerignoreMatch(pattern, path string) bool {
	pattern = strings.Trim(filepath.ToSlash(pattern), "/")
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			re.WriteString(".*")
			i++
			if i+1 < len(pattern) && pattern[i+1] == '/' {
				re.WriteString("/?")
				i++
			}
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("(/.*)?$")
	return regexp.MustCompile(re.String()).MatchString(path)
}

func TestDockerignoreMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"bin", "bin/temporal", true},
		{"bin", "cmd/bin.go", false},
		{"**/testdata", "vault/testdata/keys.json", true},
		{"**/testdata", "testdata/x", true},
		{"*.test", "observe.test", true},
		{"*.test", "observe/observe.test", false},
		{"deploy/k8s", "deploy/k8s/base/kustomization.yaml", true},
		{"deploy/k8s", "deploy/deploy.go", false},
		{"docs", "docs/DEPLOY.md", true},
	} {
		if got := dockerignoreMatch(c.pattern, c.path); got != c.want {
			t.Errorf("dockerignoreMatch(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

// TestBuildInfoStamping checks that `make build` and deploy/Dockerfile
// stamp internal/buildinfo's Version and Commit with -ldflags -X, and that
// the image carries the OCI labels.
func TestBuildInfoStamping(t *testing.T) {
	const pkg = "github.com/orderflow/orderflow/internal/buildinfo"
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make not found: %v", err)
	}
	cmd := exec.Command("make", "-n", "build", "VERSION=v1.2.3-test", "COMMIT=abc1234")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, stderr(err))
	}
	if want := `-ldflags "-X ` + pkg + `.Version=v1.2.3-test -X ` + pkg + `.Commit=abc1234"`; !strings.Contains(string(out), want) {
		t.Errorf("make -n build runs\n%s\nwant it to pass %s", out, want)
	}
	cmd = exec.Command("make", "-n", "build")
	cmd.Dir = ".."
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("make -n build: %v\n%s", err, stderr(err))
	}
	if m := regexp.MustCompile(`-X ` + regexp.QuoteMeta(pkg) + `\.Version=(\S+) -X ` + regexp.QuoteMeta(pkg) + `\.Commit=(\S+?)"`).FindStringSubmatch(string(out)); m == nil {
		t.Errorf("make -n build (VERSION and COMMIT from git) runs\n%s\nwithout stamping both", out)
	}

	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ARG VERSION(=\S*)?$`),
		regexp.MustCompile(`(?m)^ARG COMMIT(=\S*)?$`),
		regexp.MustCompile(`(?m)^ARG CREATED(=\S*)?$`),
		regexp.MustCompile(`CGO_ENABLED=0`),
		regexp.MustCompile(`-ldflags "-s -w -X ` + regexp.QuoteMeta(pkg) + `\.Version=\$\{VERSION\} -X ` + regexp.QuoteMeta(pkg) + `\.Commit=\$\{COMMIT\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.version="\$\{VERSION\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.revision="\$\{COMMIT\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.created="\$\{CREATED\}"`),
		regexp.MustCompile(`org\.opencontainers\.image\.source="https://github\.com/orderflow/orderflow"`),
		regexp.MustCompile(`org\.opencontainers\.image\.title="orderflow"`),
	} {
		if !want.MatchString(text) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	// The runtime stage declares the ARGs its LABEL uses (ARGs do not
	// cross stages).
	if i := strings.LastIndex(text, "\nFROM "); i < 0 || !strings.Contains(text[i:], "ARG VERSION") || !strings.Contains(text[i:], "ARG COMMIT") {
		t.Error("the runtime stage does not declare ARG VERSION and ARG COMMIT for its labels")
	}
}
