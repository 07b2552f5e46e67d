package dashboard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
)

// TestTagRules: the seed, the rules' constraints, edits that survive
// migrating and seeding again, and cdm.user_tags following an edit at once.
func TestTagRules(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t, testenv.Postgres(t))
	rules := readRules(t, pool)
	byTag := map[string]rule{}
	kinds := map[string]int{}
	for _, r := range rules {
		byTag[r.Tag] = r
		switch {
		case r.Category != nil:
			kinds["category"]++
		case r.ProductID != nil:
			kinds["product"]++
		default:
			kinds["name"]++
		}
	}
	if r, ok := byTag["Любитель пиццы"]; !ok || r.Category == nil || *r.Category != "Пицца" || r.Threshold != 10 {
		t.Fatalf("seed: Любитель пиццы is %+v (present %v), want category Пицца >= 10", r, ok)
	}
	if kinds["category"] < 10 || kinds["name"] < 1 {
		t.Fatalf("seed: %v rules, want one per category of the simulator's menus and at least one on a product", kinds)
	}

	// Exactly one target, a positive threshold, one rule per tag.
	for _, bad := range []string{
		`INSERT INTO cdm.tag_rules (tag, category_name, product_name, threshold) VALUES ('both', 'Пицца', 'Маргарита', 1)`,
		`INSERT INTO cdm.tag_rules (tag, threshold) VALUES ('none', 1)`,
		`INSERT INTO cdm.tag_rules (tag, category_name, threshold) VALUES ('zero', 'Пицца', 0)`,
		`INSERT INTO cdm.tag_rules (tag, category_name, threshold) VALUES ('Любитель пиццы', 'Супы', 3)`,
		`INSERT INTO cdm.tag_rules (tag, category_name, threshold) VALUES ('  ', 'Супы', 3)`,
	} {
		var pgErr *pgconn.PgError
		if _, err := pool.Exec(ctx, bad); !errors.As(err, &pgErr) || pgErr.Code[:2] != "23" {
			t.Errorf("%s: %v, want an integrity violation", bad, err)
		}
	}

	// Edit one rule, delete another, then migrate again and replay the seed.
	if _, err := pool.Exec(ctx, `UPDATE cdm.tag_rules SET threshold = 3 WHERE tag = 'Любитель пиццы'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM cdm.tag_rules WHERE tag = 'Сладкоежка'`); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Migrate(ctx, pool); err != nil || n != 0 {
		t.Fatalf("migrate again: %d applied, %v", n, err)
	}
	if r := readRuleByTag(t, readRules(t, pool), "Любитель пиццы"); r == nil || r.Threshold != 3 {
		t.Fatalf("after migrating again the edited rule is %+v, want threshold 3", r)
	}
	if r := readRuleByTag(t, readRules(t, pool), "Сладкоежка"); r != nil {
		t.Fatalf("migrating again brought back the deleted rule: %+v", r)
	}
	seed, err := os.ReadFile("../db/migrations/005_tag_rules_seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(seed)); err != nil {
		t.Fatalf("the seed again: %v", err)
	}
	after := readRules(t, pool)
	if r := readRuleByTag(t, after, "Любитель пиццы"); r == nil || r.Threshold != 3 {
		t.Fatalf("seeding again overwrote the edited rule: %+v", r)
	}
	if len(after) != len(rules) {
		t.Fatalf("after seeding again %d rules, want %d (only the missing one added)", len(after), len(rules))
	}

	// The view follows the rules and the marts at once.
	w := simulator.NewWorld(simulator.Options{Seed: time.Now().UnixNano(), Users: 80, Restaurants: 4, End: time.Now().UTC()})
	want := fillFromOracle(t, pool, w, w.History(1500))
	check := func(when string) {
		t.Helper()
		got := userTags(t, pool)
		exp := expectTags(want, readRules(t, pool))
		if len(exp) == 0 {
			t.Fatalf("%s: the oracle expects no tag at all: the data does not exercise the rules", when)
		}
		diff(t, when, got, exp)
	}
	check("seeded rules")
	// A product-id rule on the product with the most orders of one user,
	// at exactly that count: that user (at least) holds it.
	var top [2]string
	best := 0
	for _, k := range sortedPairs(want.UserProducts) {
		if n := want.UserProducts[k]; n > best {
			top, best = k, n
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO cdm.tag_rules (tag, product_id, threshold) VALUES ($1, $2, $3)`,
		"Фанат "+want.ProductNames[top[1]], top[1], best); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE cdm.tag_rules SET threshold = 2 WHERE category_name IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	check("edited rules")
	// A counter going down (a cancellation) takes the tag away.
	if _, err := pool.Exec(ctx, `UPDATE cdm.user_product_counters SET order_cnt = order_cnt - 1 WHERE user_id = $1 AND product_id = $2`,
		key(top[0]), key(top[1])); err != nil {
		t.Fatal(err)
	}
	want.UserProducts[top] = best - 1
	check("a counter lowered")
}

func readRuleByTag(t *testing.T, rules []rule, tag string) *rule {
	t.Helper()
	for _, r := range rules {
		if r.Tag == tag {
			return &r
		}
	}
	return nil
}

// userTags reads cdm.user_tags by source user id.
func userTags(t testing.TB, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) map[[2]string]int {
	t.Helper()
	rows, _ := q.Query(context.Background(), `SELECT h.user_id, t.tag, t.order_cnt FROM cdm.user_tags t JOIN dds.h_user h ON h.h_user_pk = t.user_id`)
	got := map[[2]string]int{}
	var u, tag string
	var n int
	_, err := pgx.ForEachRow(rows, []any{&u, &tag, &n}, func() error {
		if _, dup := got[[2]string{u, tag}]; dup {
			return fmt.Errorf("user %s holds %q twice", u, tag)
		}
		got[[2]string{u, tag}] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// diff reports every difference between the tags got and the tags wanted.
func diff(t testing.TB, when string, got, want map[[2]string]int) {
	t.Helper()
	bad := 0
	for k, n := range want {
		if g, ok := got[k]; !ok || g != n {
			bad++
			t.Errorf("%s: user %s tag %q: got %d (present %v), want %d", when, k[0], k[1], g, ok, n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			bad++
			t.Errorf("%s: user %s has unexpected tag %q (%d)", when, k[0], k[1], n)
		}
	}
	if bad == 0 {
		t.Logf("%s: %d user tags match the oracle", when, len(want))
	}
}

func sortedPairs(m map[[2]string]int) [][2]string {
	out := make([][2]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	return out
}

// TestBIRole: a login role granted orderflow_bi reads every bi view and
// nothing else, and writes nothing.
func TestBIRole(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	pool := migrated(t, dsn)
	w := simulator.NewWorld(simulator.Options{Seed: 7, Users: 40, Restaurants: 3, End: time.Now().UTC()})
	fillFromOracle(t, pool, w, w.History(400))

	login := fmt.Sprintf("orderflow_bi_t_%x", time.Now().UnixNano())
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN IN ROLE orderflow_bi`, pgx.Identifier{login}.Sanitize())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{login}.Sanitize())
	})

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(login)
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect as %s: %v", login, err)
	}
	defer conn.Close(ctx)

	var views []string
	rows, _ := pool.Query(ctx, `SELECT table_name FROM information_schema.views WHERE table_schema = 'bi' ORDER BY 1`)
	views, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(views) < 4 {
		t.Fatalf("bi views: %v (%v)", views, err)
	}
	for _, v := range views {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM bi."+v).Scan(&n); err != nil {
			t.Errorf("bi.%s as %s: %v", v, login, err)
		} else if n == 0 {
			t.Errorf("bi.%s is empty", v)
		}
	}
	for _, stmt := range []string{
		`SELECT count(*) FROM cdm.user_product_counters`,
		`SELECT count(*) FROM dds.h_user`,
		`SELECT count(*) FROM stg.order_events`,
		`INSERT INTO cdm.tag_rules (tag, category_name, threshold) VALUES ('bi', 'Пицца', 1)`,
		`DELETE FROM bi.user_tags`,
		`CREATE VIEW bi.mine AS SELECT 1`,
	} {
		var pgErr *pgconn.PgError
		_, err := conn.Exec(ctx, stmt)
		if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "55000") { // insufficient_privilege; view not updatable
			t.Errorf("%s as %s: %v, want a refusal", stmt, login, err)
		}
	}
}

// TestReaderRole: the dashboard works on a pool acting as orderflow_reader
// (what `orderflow dashboard` uses with PG_SET_ROLE on), which cannot write.
func TestReaderRole(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	pool := migrated(t, dsn)
	w := simulator.NewWorld(simulator.Options{Seed: 11, Users: 40, Restaurants: 3, End: time.Now().UTC()})
	want := fillFromOracle(t, pool, w, w.History(400))

	reader, err := db.OpenAs(ctx, dsn, db.Role("reader"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	srv := httptest.NewServer(New(defaultConfig(t), reader, nil, testLogger()))
	defer srv.Close()
	for _, path := range []string{"/", "/api/tags", "/api/top/products", "/api/top/categories?by=users", "/api/users/" + sortedKeys(want.Users)[0]} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s as orderflow_reader: %d %s", path, resp.StatusCode, body)
		}
	}
	var pgErr *pgconn.PgError
	if _, err := reader.Exec(ctx, `INSERT INTO cdm.tag_rules (tag, category_name, threshold) VALUES ('r', 'Пицца', 1)`); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("orderflow_reader inserted a rule: %v", err)
	}
}
