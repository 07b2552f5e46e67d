package db_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
)

func TestExpectedVersionIsTheLastMigration(t *testing.T) {
	if got := db.ExpectedVersion(); got < 13 {
		t.Errorf("ExpectedVersion() = %d, want the highest number in db/migrations (13 or more)", got)
	}
}

// TestCheckSchema: a worker starts only on exactly the schema its build
// embeds; behind (or empty, or with a gap) it names `orderflow migrate`;
// ahead it says so; CheckSchema itself never changes the database.
func TestCheckSchema(t *testing.T) {
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	want := db.ExpectedVersion()

	mismatch := func(t *testing.T) *db.SchemaMismatch {
		t.Helper()
		err := db.CheckSchema(ctx, pool)
		var m *db.SchemaMismatch
		if !errors.As(err, &m) {
			t.Fatalf("CheckSchema: %v, want a *SchemaMismatch", err)
		}
		return m
	}
	exec := func(t *testing.T, sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("empty", func(t *testing.T) {
		m := mismatch(t)
		if !m.Behind() || m.Have != 0 || m.Want != want {
			t.Errorf("empty database: %+v, want behind at 0 of %d", m, want)
		}
		if msg := m.Error(); !strings.Contains(msg, "version 0") || !strings.Contains(msg, "orderflow migrate") {
			t.Errorf("message %q should name version 0 and `orderflow migrate`", msg)
		}
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass('public.orderflow_migrations') IS NOT NULL`).Scan(&exists); err != nil || exists {
			t.Errorf("CheckSchema created the migrations table (exists %v, err %v)", exists, err)
		}
	})

	if _, err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}

	t.Run("equal", func(t *testing.T) {
		if err := db.CheckSchema(ctx, pool); err != nil {
			t.Errorf("after Migrate: %v, want nil", err)
		}
	})

	t.Run("behind", func(t *testing.T) {
		exec(t, `DELETE FROM public.orderflow_migrations WHERE version = $1`, want)
		defer exec(t, `INSERT INTO public.orderflow_migrations (version, name) VALUES ($1, 'restored')`, want)
		var have int
		if err := pool.QueryRow(ctx, `SELECT max(version) FROM public.orderflow_migrations`).Scan(&have); err != nil {
			t.Fatal(err)
		}
		m := mismatch(t)
		if !m.Behind() || m.Have != have || !slices.Equal(m.Missing, []int{want}) {
			t.Errorf("one migration short: %+v, want behind at %d missing [%d]", m, have, want)
		}
		wantMsg := fmt.Sprintf("database schema is at version %d, this build needs %d: run `orderflow migrate` (the setup Job) first", have, want)
		if m.Error() != wantMsg {
			t.Errorf("message %q, want %q", m.Error(), wantMsg)
		}
	})

	t.Run("gap", func(t *testing.T) {
		exec(t, `DELETE FROM public.orderflow_migrations WHERE version = 5`)
		defer exec(t, `INSERT INTO public.orderflow_migrations (version, name) VALUES (5, 'restored')`)
		m := mismatch(t)
		if !m.Behind() || m.Have != want || !slices.Equal(m.Missing, []int{5}) {
			t.Errorf("migration 5 missing: %+v, want behind, at %d, missing [5]", m, want)
		}
		if !strings.Contains(m.Error(), "orderflow migrate") {
			t.Errorf("message %q should name `orderflow migrate`", m.Error())
		}
	})

	if err := db.CheckSchema(ctx, pool); err != nil {
		t.Fatalf("restored: %v", err)
	}

	t.Run("ahead", func(t *testing.T) {
		exec(t, `INSERT INTO public.orderflow_migrations (version, name) VALUES ($1, 'from_the_future.sql')`, want+1)
		defer exec(t, `DELETE FROM public.orderflow_migrations WHERE version = $1`, want+1)
		m := mismatch(t)
		if m.Behind() || m.Have != want+1 || m.Want != want {
			t.Errorf("one migration ahead: %+v, want ahead at %d of %d", m, want+1, want)
		}
		if !strings.Contains(m.Error(), "newer than this build") {
			t.Errorf("message %q should say the schema is newer", m.Error())
		}
	})
}
