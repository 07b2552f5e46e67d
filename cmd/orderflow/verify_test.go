package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/internal/testenv"
)

// TestVerifyCommand: `orderflow verify` exits 0 on a clean warehouse, 1
// with every difference listed (capped by -max), 2 on usage errors and when
// the check cannot be made; it records each run.
func TestVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dsn, pool := testenv.MigratedPostgres(t)
	t.Setenv("PG_DSN", dsn)
	verifyCmd := func(args ...string) (string, int) {
		t.Helper()
		var out bytes.Buffer
		err := run(append([]string{"verify"}, args...), &out)
		return out.String(), exitStatus(err)
	}

	if out, code := verifyCmd(); code != 0 || !strings.HasPrefix(out, "verify: clean: ") {
		t.Fatalf("empty warehouse: exit %d, printed %q; want 0 and clean", code, out)
	}

	// Three mart rows no order implies (and whose products have no name).
	for i := range 3 {
		if _, err := pool.Exec(ctx, `INSERT INTO cdm.user_product_counters (user_id, product_id, product_name, order_cnt) VALUES ($1, $2, $3, 2)`,
			uuid.New(), uuid.New(), fmt.Sprintf("dish %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	out, code := verifyCmd()
	if code != 1 || !strings.HasPrefix(out, "verify: 6 mismatches (3 counter differences, 3 name differences, 0 orphan rows)") ||
		strings.Count(out, "order_cnt 2, want 0") != 3 || strings.Count(out, "want none") != 3 {
		t.Fatalf("three stray mart rows: exit %d, printed\n%s", code, out)
	}
	out, code = verifyCmd("-max", "1", "-record=false")
	if code != 1 || strings.Count(out, "cdm.user_product_counters: user ") != 1 || !strings.Contains(out, "... and 5 more differences") {
		t.Fatalf("-max 1: exit %d, printed\n%s", code, out)
	}
	var runs, last int64
	if err := pool.QueryRow(ctx, `SELECT count(*), (SELECT mismatches FROM stg.verify_runs ORDER BY id DESC LIMIT 1) FROM stg.verify_runs`).Scan(&runs, &last); err != nil {
		t.Fatal(err)
	}
	if runs != 2 || last != 6 {
		t.Errorf("stg.verify_runs: %d runs, the last with %d mismatches; want 2 and 6 (-record=false records nothing)", runs, last)
	}

	for _, args := range [][]string{{"extra"}, {"-bogus"}, {"-max", "many"}} {
		if _, code := verifyCmd(args...); code != 2 {
			t.Errorf("verify %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	if _, code := verifyCmd("-h"); code != 0 {
		t.Errorf("verify -h: exit %d, want 0", code)
	}
	t.Setenv("PG_DSN", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/none?sslmode=disable&connect_timeout=2", testenv.FreePort(t)))
	if _, code := verifyCmd(); code != 2 {
		t.Errorf("PostgreSQL unreachable: exit %d, want 2", code)
	}
}
