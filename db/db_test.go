package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/vault"
)

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PoolAs(t, testenv.Postgres(t), "") // not migrated
	first, err := db.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if first == 0 {
		t.Fatal("no migration applied to a fresh database")
	}
	again, err := db.Migrate(ctx, pool)
	if err != nil || again != 0 {
		t.Fatalf("second Migrate applied %d (err %v), want 0", again, err)
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('stg', 'dds', 'cdm')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables < 25 {
		t.Errorf("%d tables in stg, dds, cdm; want every table of the spec", tables)
	}
}

// TestRolesAreConfined: each layer's role may write its own tables and not
// another layer's; the reader writes nothing.
func TestRolesAreConfined(t *testing.T) {
	ctx := context.Background()
	dsn, _ := testenv.MigratedPostgres(t)
	writes := map[string]string{
		"stg": `INSERT INTO stg.batches (batch_id, shard, shards, load_dt, ranges, fetched, backlog) VALUES ('b', 0, 1, now(), '[]', 0, 0)`,
		"dds": `INSERT INTO dds.h_category VALUES (gen_random_uuid(), 'x', now(), 'test')`,
		"cdm": `INSERT INTO cdm.user_category_counters (user_id, category_id, category_name, order_cnt) VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 1)`,
	}
	for _, role := range []string{"stg", "dds", "cdm", "reader"} {
		p, err := db.OpenAs(ctx, dsn, db.Role(role))
		if err != nil {
			t.Fatal(err)
		}
		for layer, stmt := range writes {
			_, err := p.Exec(ctx, "BEGIN; "+stmt+"; ROLLBACK")
			if allowed := layer == role; allowed != (err == nil) {
				t.Errorf("role %s writing the %s layer: err %v, allowed %v", role, layer, err, allowed)
			}
			if err != nil && !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("role %s: %v, want permission denied", role, err)
			}
			_, _ = p.Exec(ctx, "ROLLBACK")
		}
		p.Close()
	}
}

// TestKeysMatchPostgres: Go's keys equal uuid_generate_v5 in PostgreSQL.
func TestKeysMatchPostgres(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.MigratedPostgres(t)
	for _, key := range []string{"626a81ce9a8cd1920641e296", "Выпечка", "322519", "", "a|b|c"} {
		var pg string
		if err := pool.QueryRow(ctx, `SELECT uuid_generate_v5($1::uuid, $2)::text`, vault.Namespace.String(), key).Scan(&pg); err != nil {
			t.Fatal(err)
		}
		if got := vault.Hub(key).String(); got != pg {
			t.Errorf("key %q: Go %s, PostgreSQL %s", key, got, pg)
		}
	}
}
