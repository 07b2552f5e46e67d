package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
)

// getJSON GETs url, decodes the body into v (when not nil) and returns the status.
func getJSON(t testing.TB, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	if v != nil {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("GET %s: %d %s: decode: %v", url, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode
}

// smallWarehouse is a database filled from the oracle for a small history.
func smallWarehouse(t *testing.T) (*httptest.Server, simulator.Expected, []rule) {
	t.Helper()
	pool := migrated(t, testenv.Postgres(t))
	seed := time.Now().UnixNano()
	t.Logf("simulator seed %d", seed)
	w := simulator.NewWorld(simulator.Options{Seed: seed, Users: 120, Restaurants: 8, End: time.Now().UTC()})
	want := fillFromOracle(t, pool, w, w.History(2500))
	srv := httptest.NewServer(New(defaultConfig(t), pool, nil, testLogger()))
	t.Cleanup(srv.Close)
	return srv, want, readRules(t, pool)
}

func TestAPI(t *testing.T) {
	srv, want, rules := smallWarehouse(t)
	checkUsersAPI(t, srv.URL, want, rules, nil)
	checkTopAPI(t, srv.URL, want)
	checkTagsAPI(t, srv.URL, want, rules)
}

func TestAPIRejectsBadRequests(t *testing.T) {
	srv, want, _ := smallWarehouse(t)
	some := sortedKeys(want.Users)[0]
	for _, c := range []struct {
		path string
		code int
	}{
		{"/api/users/" + some, 200},
		{"/api/users/ffffffffffffffffffffffff", 404}, // well-formed, unknown
		{"/api/users/" + strings.Repeat("a", 64), 404},
		{"/api/users/" + strings.Repeat("a", 65), 400},
		{"/api/users/abc%21", 400},         // "abc!"
		{"/api/users/%D0%B9", 400},         // "й"
		{"/api/users/a%20b", 400},          // "a b"
		{"/api/users/x'%3B--", 400},        // "x';--"
		{"/api/users/" + some + "/x", 404}, // no such endpoint
		{"/api/users/" + some + "?limit=0", 400},
		{"/api/users/" + some + "?limit=-3", 400},
		{"/api/users/" + some + "?limit=ten", 400},
		{"/api/users/" + some + "?limit=101", 400}, // above MaxLimit: refused, not cut
		{"/api/top/products?limit=100000", 400},
		{"/api/top/categories?limit=101", 400},
		{"/api/top/categories?limit=100", 200},
		{"/api/users/" + some + "?offset=-1", 400},
		{"/api/top/products?by=price", 400},
		{"/api/top/categories?limit=1.5", 400},
		{"/api/top/products?offset=99999999", 400},
		{"/api/nothing", 404},
		{"/api/top/products?by=users&limit=100&offset=0", 200},
	} {
		var e Error
		var got int
		if c.code == 200 {
			got = getJSON(t, srv.URL+c.path, nil)
		} else {
			got = getJSON(t, srv.URL+c.path, &e)
			if e.Error == "" {
				t.Errorf("GET %s: no error message", c.path)
			}
		}
		if got != c.code {
			t.Errorf("GET %s: %d, want %d (%s)", c.path, got, c.code, e.Error)
		}
	}

	// A page holds MaxLimit rows at most, and DefaultLimit without ?limit=.
	var p Page[TopProduct]
	getJSON(t, srv.URL+"/api/top/products?limit=100", &p)
	if p.Limit != MaxLimit || p.Total <= MaxLimit || len(p.Items) != MaxLimit {
		t.Errorf("limit=100: limit %d, %d items of %d; want %d items", p.Limit, len(p.Items), p.Total, MaxLimit)
	}
	var e Error
	if code := getJSON(t, srv.URL+"/api/top/products?limit=101", &e); code != 400 || !strings.Contains(e.Error, "from 1 to 100") {
		t.Errorf("limit=101: %d %q, want 400 naming the range", code, e.Error)
	}
	getJSON(t, srv.URL+"/api/top/products", &p)
	if p.Limit != DefaultLimit || len(p.Items) != DefaultLimit || p.By != "orders" {
		t.Errorf("no limit: limit %d, %d items, by %q; want %d by orders", p.Limit, len(p.Items), p.By, DefaultLimit)
	}

	// Read-only: no method that could change anything.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, srv.URL+"/api/users/"+some, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, resp.StatusCode)
		}
	}
}

// TestReadOnlyTransaction: what the handlers run in cannot write.
func TestReadOnlyTransaction(t *testing.T) {
	pool := migrated(t, testenv.Postgres(t))
	ctx := context.Background()
	err := readOnly(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cdm.tag_rules (tag, category_name, threshold) VALUES ('x', 'y', 1)`)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Fatalf("insert in the read-only transaction: %v, want SQLSTATE 25006", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM cdm.tag_rules WHERE tag = 'x'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the rule was written: %d (%v)", n, err)
	}
}

// checkUsersAPI asks the API for every user the oracle knows and compares
// tags and counters with the oracle; a user the oracle does not know is 404.
func checkUsersAPI(t *testing.T, base string, want simulator.Expected, rules []rule, explain func(id string) string) {
	t.Helper()
	tags := expectTags(want, rules)
	withTags, unseen := 0, 0
	for _, id := range sortedKeys(want.Users) {
		var u User
		code := getJSON(t, base+"/api/users/"+url.PathEscape(id)+"?limit=7", &u)
		if code == http.StatusNotFound && !want.Owners[id] {
			// Only versions superseded inside one batch name this user, so
			// the vault may never have held them: 404 is the truth then.
			unseen++
			continue
		}
		if code != 200 {
			why := ""
			if explain != nil {
				why = "; " + explain(id)
			}
			t.Fatalf("user %s: %d (owner of a current version: %v)%s", id, code, want.Owners[id], why)
		}
		if u.UserID != id || u.HUserPK != key(id).String() {
			t.Errorf("user %s: answered as %s / %s", id, u.UserID, u.HUserPK)
		}
		gotTags := map[string]int{}
		for _, tg := range u.Tags {
			gotTags[tg.Tag] = tg.OrderCnt
		}
		for k, n := range tags {
			if k[0] == id && gotTags[k[1]] != n {
				t.Errorf("user %s: tag %q with %d (present %v), want %d", id, k[1], gotTags[k[1]], gotTags[k[1]] > 0, n)
			}
		}
		for tag := range gotTags {
			if _, ok := tags[[2]string{id, tag}]; !ok {
				t.Errorf("user %s: unexpected tag %q", id, tag)
			}
		}
		if len(gotTags) > 0 {
			withTags++
		}

		wantCats := 0
		for _, c := range u.Categories {
			if n := want.UserCategories[[2]string{id, c.CategoryName}]; n != c.OrderCnt || c.CategoryID != key(c.CategoryName).String() {
				t.Errorf("user %s category %s: %d (%s), want %d", id, c.CategoryName, c.OrderCnt, c.CategoryID, n)
			}
		}
		for k, n := range want.UserCategories {
			if k[0] == id && n > 0 {
				wantCats++
			}
		}
		if len(u.Categories) != wantCats {
			t.Errorf("user %s: %d categories, want %d", id, len(u.Categories), wantCats)
		}

		// Page through the products 7 at a time.
		products := u.Products.Items
		for off := 7; off < u.Products.Total; off += 7 {
			var next User
			getJSON(t, fmt.Sprintf("%s/api/users/%s?limit=7&offset=%d", base, id, off), &next)
			products = append(products, next.Products.Items...)
		}
		wantProducts := 0
		for k, n := range want.UserProducts {
			if k[0] == id && n > 0 {
				wantProducts++
			}
		}
		if len(products) != wantProducts || u.Products.Total != wantProducts {
			t.Errorf("user %s: %d products (total %d), want %d", id, len(products), u.Products.Total, wantProducts)
		}
		for i, p := range products {
			n := want.UserProducts[[2]string{id, p.ProductID}]
			if p.OrderCnt != n || p.ProductName != want.ProductNames[p.ProductID] || p.HProductPK != key(p.ProductID).String() {
				t.Errorf("user %s product %s: %+v, want %d %q", id, p.ProductID, p, n, want.ProductNames[p.ProductID])
			}
			if i > 0 && p.OrderCnt > products[i-1].OrderCnt {
				t.Errorf("user %s: products not ordered by order_cnt: %d after %d", id, p.OrderCnt, products[i-1].OrderCnt)
			}
		}
	}
	if withTags == 0 || withTags == len(want.Users) {
		t.Errorf("%d of %d users hold a tag: the data does not exercise the rules", withTags, len(want.Users))
	}
	var e Error
	if code := getJSON(t, base+"/api/users/000000000000000000000000", &e); code != http.StatusNotFound {
		t.Errorf("unknown user: %d, want 404", code)
	}
	if unseen > len(want.Users)-len(want.Owners) {
		t.Errorf("%d users answered 404, but only %d are not named by a current version", unseen, len(want.Users)-len(want.Owners))
	}
	t.Logf("users API: %d users, %d hold tags, %d named only by versions a batch superseded and never loaded", len(want.Users), withTags, unseen)
}

// checkTopAPI compares the top products and categories with the oracle.
func checkTopAPI(t *testing.T, base string, want simulator.Expected) {
	t.Helper()
	products := expectProducts(want)
	for _, by := range []string{"orders", "users"} {
		measure := func(p popularity) int64 {
			if by == "users" {
				return p.Users
			}
			return p.Orders
		}
		var all []TopProduct
		total := 0
		for off := 0; ; off += MaxLimit {
			var page Page[TopProduct]
			if code := getJSON(t, fmt.Sprintf("%s/api/top/products?by=%s&limit=%d&offset=%d", base, by, MaxLimit, off), &page); code != 200 {
				t.Fatalf("top products: %d", code)
			}
			all = append(all, page.Items...)
			total = page.Total
			if len(page.Items) < MaxLimit {
				break
			}
		}
		if len(all) != len(products) || total != len(products) {
			t.Errorf("top products by %s: %d rows (total %d), want %d", by, len(all), total, len(products))
		}
		for i, p := range all {
			w := products[p.ProductID]
			if p.Users != w.Users || p.Orders != w.Orders || p.ProductName != want.ProductNames[p.ProductID] || p.Restaurant == nil {
				t.Errorf("top product %s: %+v, want %+v %q", p.ProductID, p, w, want.ProductNames[p.ProductID])
			}
			if i > 0 && measure(popularity{Users: p.Users, Orders: p.Orders}) > measure(popularity{Users: all[i-1].Users, Orders: all[i-1].Orders}) {
				t.Errorf("top products by %s: not ordered at row %d", by, i)
			}
		}

		var cats Page[TopCategory]
		getJSON(t, base+"/api/top/categories?by="+by, &cats)
		wc := expectCategories(want)
		if len(cats.Items) != len(wc) || cats.Total != len(wc) {
			t.Errorf("top categories: %d rows (total %d), want %d", len(cats.Items), cats.Total, len(wc))
		}
		for i, c := range cats.Items {
			w := wc[c.CategoryName]
			if c.Users != w.Users || c.Orders != w.Orders || c.UsersPct != w.UsersPct || c.OrdersPct != w.OrdersPct || c.CategoryID != key(c.CategoryName).String() {
				t.Errorf("category %s: %+v, want %+v", c.CategoryName, c, w)
			}
			if i > 0 && measure(popularity{Users: c.Users, Orders: c.Orders}) > measure(popularity{Users: cats.Items[i-1].Users, Orders: cats.Items[i-1].Orders}) {
				t.Errorf("top categories by %s: not ordered at row %d", by, i)
			}
		}
	}
}

// checkTagsAPI compares the holders of every tag with the oracle.
func checkTagsAPI(t *testing.T, base string, want simulator.Expected, rules []rule) {
	t.Helper()
	holders := map[string]int64{}
	for k := range expectTags(want, rules) {
		holders[k[1]]++
	}
	var tags []TagCount
	getJSON(t, base+"/api/tags", &tags)
	if len(tags) != len(rules) {
		t.Errorf("/api/tags: %d rules, want %d", len(tags), len(rules))
	}
	for _, tg := range tags {
		if tg.Users != holders[tg.Tag] {
			t.Errorf("tag %q: %d holders, want %d", tg.Tag, tg.Users, holders[tg.Tag])
		}
	}
}
