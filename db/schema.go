package db

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ExpectedVersion is the schema version this build needs: the highest
// number among the embedded migrations (db/migrations/NNN_*.sql).
func ExpectedVersion() int {
	vs := embeddedVersions()
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// embeddedVersions lists the embedded migrations' numbers in ascending order.
func embeddedVersions() []int {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		panic("db: " + err.Error()) // a bad pattern in our own code
	}
	var vs []int
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
		if err != nil {
			panic("db: migration " + f + ": name must start with a number") // Migrate refuses it too
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// SchemaMismatch is CheckSchema's error: the database's schema is not the
// one this build expects. Have is the highest applied migration (0: none),
// Want is ExpectedVersion, Missing the embedded migrations not applied.
type SchemaMismatch struct {
	Have, Want int
	Missing    []int
}

// Behind tells whether migrations this build needs are missing (the
// database is empty, older, or lacks one in the middle); else the database
// is ahead: migrated by a newer build.
func (e *SchemaMismatch) Behind() bool { return len(e.Missing) > 0 }

func (e *SchemaMismatch) Error() string {
	const fix = "run `orderflow migrate` (the setup Job) first"
	switch {
	case e.Have == 0:
		return fmt.Sprintf("database has no orderflow schema (version 0), this build needs %d: %s", e.Want, fix)
	case e.Have < e.Want:
		return fmt.Sprintf("database schema is at version %d, this build needs %d: %s", e.Have, e.Want, fix)
	case e.Behind():
		return fmt.Sprintf("database schema is at version %d but lacks migration(s) %v that this build needs: %s", e.Have, e.Missing, fix)
	default:
		return fmt.Sprintf("database schema is at version %d, newer than this build's %d: a newer orderflow migrated it", e.Have, e.Want)
	}
}

// CheckSchema checks, without changing anything, that the database holds
// exactly the migrations this build embeds: nil when it does, else a
// *SchemaMismatch (or the error of reading public.orderflow_migrations).
// It needs only SELECT on that table, no DDL right.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	want := embeddedVersions()
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('public.orderflow_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	var applied []int
	if exists {
		rows, err := pool.Query(ctx, `SELECT version FROM public.orderflow_migrations ORDER BY version`)
		if err != nil {
			return fmt.Errorf("read the schema version from public.orderflow_migrations (the worker's user needs SELECT on it): %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("read the schema version: %w", err)
			}
			applied = append(applied, v)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read the schema version: %w", err)
		}
	}
	m := &SchemaMismatch{Want: ExpectedVersion()}
	if len(applied) > 0 {
		m.Have = applied[len(applied)-1]
	}
	for _, v := range want {
		if _, found := slices.BinarySearch(applied, v); !found {
			m.Missing = append(m.Missing, v)
		}
	}
	if m.Behind() || m.Have > m.Want {
		return m
	}
	return nil
}
