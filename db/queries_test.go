package db

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryNamedQueryExists: every db.Query("name") in the code names an
// embedded file, so a typo fails here and not inside an activity.
func TestEveryNamedQueryExists(t *testing.T) {
	call := regexp.MustCompile(`\bdb\.Query\("([^"]+)"\)|\bQuery\("([^"]+)"\)`)
	seen := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == "data" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		inDB := filepath.Dir(path) == "."
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			name := m[1]
			if name == "" {
				if !inDB {
					continue // another package's own Query helper
				}
				name = m[2]
			}
			seen++
			if _, err := queries.ReadFile("queries/" + name + ".sql"); err != nil {
				t.Errorf("%s: db.Query(%q): no db/queries/%s.sql", path, name, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Fatalf("found only %d db.Query calls: the scan is broken", seen)
	}
	t.Logf("%d named queries checked", seen)
}
