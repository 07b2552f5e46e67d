package devstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FindRepoRoot returns the folder holding go.mod, looking in the working
// directory and then in each of its parents.
func FindRepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod in %s or any parent folder", wd)
		}
		dir = parent
	}
}

// TemporalBin returns the Temporal CLI binary to run: $ORDERFLOW_TEMPORAL_BIN
// if set, else <repository root>/bin/temporal. It fails, telling the user to
// run `make bin/temporal`, when the file is missing.
func TemporalBin() (string, error) {
	bin := os.Getenv("ORDERFLOW_TEMPORAL_BIN")
	from := "ORDERFLOW_TEMPORAL_BIN"
	if bin == "" {
		root, err := FindRepoRoot()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(root, "bin", "temporal")
		from = "the repository"
	}
	fi, err := os.Stat(bin)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("the Temporal CLI %s is missing (%s from %s): run `make bin/temporal` to build it (once, about 4 minutes) or set ORDERFLOW_TEMPORAL_BIN", TemporalCLIVersion, bin, from)
		}
		return "", fmt.Errorf("the Temporal CLI %s: %w", bin, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("the Temporal CLI %s (from %s) is not an executable file: run `make bin/temporal` or fix ORDERFLOW_TEMPORAL_BIN", bin, from)
	}
	return bin, nil
}
