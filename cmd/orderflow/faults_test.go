package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// faultsPkg prefixes every symbol of the fault injection package.
const faultsPkg = "github.com/orderflow/orderflow/internal/faults."

// TestProductionBinaryHasNoFaultCode builds cmd/orderflow as production
// does (no build tag) and as the tests do (-tags faults): the production
// binary links nothing of internal/faults and holds no poison parser, and
// refuses to start a worker when an ORDERFLOW_FAULT_* variable is set; the
// tests' binary has them (so the check would see them).
func TestProductionBinaryHasNoFaultCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	dir := t.TempDir()
	prod, tagged := filepath.Join(dir, "orderflow"), filepath.Join(dir, "orderflow-faults")
	build(t, prod)
	build(t, tagged, "-tags", "faults")

	if syms := faultSymbols(t, prod); len(syms) > 0 {
		t.Errorf("the production binary links fault code: %s", strings.Join(syms, ", "))
	}
	if syms := faultSymbols(t, tagged); len(syms) == 0 {
		t.Errorf("the -tags faults binary has no symbol of internal/faults: the check above proves nothing")
	}
	// The poison parser's messages name its variable; so does the kill
	// fault's, in the tests' binary only.
	for _, s := range []string{"ORDERFLOW_FAULT_POISON", "ORDERFLOW_FAULT_KILL", "ORDERFLOW_FAULT_SLOW"} {
		if contains(t, prod, s) {
			t.Errorf("the production binary holds the string %q", s)
		}
		if !contains(t, tagged, s) {
			t.Errorf("the -tags faults binary does not hold the string %q", s)
		}
	}

	for _, fault := range []string{"ORDERFLOW_FAULT_KILL=LoadStg:before", "ORDERFLOW_FAULT_POISON=LoadStg:0:1", "ORDERFLOW_FAULT_SLOW=LoadStg:8s"} {
		cmd := exec.Command(prod, "worker")
		cmd.Env = append(cleanEnv(), fault)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		name, _, _ := strings.Cut(fault, "=")
		if !errors.As(err, &exit) || exit.ExitCode() != exitUsage || !strings.Contains(stderr.String(), name+" is set") || !strings.Contains(stderr.String(), "-tags faults") {
			t.Errorf("production worker with %s: %v, stderr %q; want exit status %d refusing the fault", fault, err, stderr.String(), exitUsage)
		}
	}
}

func build(t *testing.T, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", out, ".")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, b)
	}
}

// faultSymbols lists bin's symbols of internal/faults or of a poison parser.
func faultSymbols(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", bin, err)
	}
	var syms []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, faultsPkg) || strings.Contains(line, "ParsePoison") {
			syms = append(syms, strings.TrimSpace(line))
		}
	}
	return syms
}

func contains(t *testing.T, bin, s string) bool {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// cleanEnv is this process's environment without ORDERFLOW_ settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORDERFLOW_") {
			env = append(env, kv)
		}
	}
	return env
}
