// Package db opens orderflow's PostgreSQL pool and applies its migrations.
// Migrations are numbered .sql files in db/migrations; the statements the
// activities run are .sql files in db/queries. Both are embedded.
package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed queries/*.sql
var queries embed.FS

// Query returns the embedded statement db/queries/<name>.sql.
func Query(name string) string {
	b, err := queries.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic("db: no query " + name) // a typo in our own code: TestEveryNamedQueryExists catches it in make test
	}
	return string(b)
}

// Open connects a pool and checks the server answers.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	return open(ctx, dsn, "", false)
}

// Role is the PostgreSQL role of a worker layer (created by the migrations).
func Role(layer string) string { return "orderflow_" + layer }

// OpenAs connects a pool whose every connection acts as role (SET ROLE), so
// it has only that role's privileges; "" keeps the login user's.
func OpenAs(ctx context.Context, dsn, role string) (*pgxpool.Pool, error) {
	return open(ctx, dsn, role, false)
}

// OpenReader connects a pool for readers (dashboards, the API): every
// transaction is read-only, and with setRole it acts as orderflow_reader.
func OpenReader(ctx context.Context, dsn string, setRole bool) (*pgxpool.Pool, error) {
	role := ""
	if setRole {
		role = Role("reader")
	}
	return open(ctx, dsn, role, true)
}

func open(ctx context.Context, dsn, role string, readOnly bool) (*pgxpool.Pool, error) {
	pool, err := NewPool(dsn, role, readOnly)
	if err != nil {
		return nil, err
	}
	if err := Ping(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// NewPool builds the pool Open (role "", readOnly false), OpenAs (role) or
// OpenReader (readOnly) connect, without connecting: nothing is dialled
// until the pool is used, so a process that dials when it starts rather
// than when it is built (the fx apps of cmd/orderflow) builds it here and
// checks it with Ping then.
func NewPool(dsn, role string, readOnly bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse PG_DSN: %w", err)
	}
	if readOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// uuid.UUID as binary uuid (also in arrays and COPY); without it pgx
		// sends each one through driver.Valuer as text, a third of a
		// worker's CPU in a drain and PostgreSQL's parsing on top.
		pgxuuid.Register(c.TypeMap())
		if role == "" {
			return nil
		}
		if _, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			return fmt.Errorf("set role %s (run the migrations first): %w", role, err)
		}
		return nil
	}
	// It connects nothing: connections are made when the pool is used.
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	return pool, nil
}

// Ping checks the server of pool answers; the error names the server.
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.Ping(ctx); err != nil {
		c := pool.Config().ConnConfig
		return fmt.Errorf("postgres at %s:%d is unreachable: %w", c.Host, c.Port, err)
	}
	return nil
}

// migrateLock serialises concurrent Migrate calls (several workers starting at once).
const migrateLock = 0x6f72646572666c77

// Migrate applies every migration not yet recorded in public.orderflow_migrations,
// each in its own transaction, and returns how many it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return 0, fmt.Errorf("migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLock)) //nolint:errcheck // released with the session anyway
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.orderflow_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	applied := 0
	for _, f := range files {
		name := path.Base(f)
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return applied, fmt.Errorf("migration %s: name must start with a number", name)
		}
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.orderflow_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		if done {
			continue
		}
		sql, err := migrations.ReadFile(f)
		if err != nil {
			return applied, err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO public.orderflow_migrations (version, name) VALUES ($1, $2)`, version, name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		applied++
	}
	return applied, nil
}
