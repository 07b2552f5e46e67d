package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/internal/testenv"
)

// workerBin is the orderflow binary, built once for the tests that run a
// worker as a separate process (to kill it), with -tags faults so that it
// has fault injection (internal/faults, ORDERFLOW_FAULT_*).
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orderflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := devstack.FindRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "orderflow")
	build := exec.Command("go", "build", "-tags", "faults", "-o", workerBin, "./cmd/orderflow")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build orderflow:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	testenv.Main(m)
}
