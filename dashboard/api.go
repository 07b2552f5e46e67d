package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/vault"
)

//go:embed sql/*.sql
var queries embed.FS

// query returns the embedded statement sql/<name>.sql.
func query(name string) string {
	b, err := queries.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic("dashboard: no query " + name) // a typo in our own code
	}
	return string(b)
}

// User is the answer of GET /api/users/{id}: one user's tags and counters.
// Counters of 0 (every order cancelled) are left out.
type User struct {
	UserID     string               `json:"user_id"`   // source id
	HUserPK    string               `json:"h_user_pk"` // dds.h_user key = cdm user_id
	Name       *string              `json:"name"`      // null when the user is not in the reference data
	Login      *string              `json:"login"`
	Tags       []UserTag            `json:"tags"`
	Categories []CategoryCounter    `json:"categories"`
	Products   Page[ProductCounter] `json:"products"`
}

// UserTag is a tag a user holds and the counter that earned it.
type UserTag struct {
	Tag       string `json:"tag"`
	RuleID    int    `json:"rule_id"`
	OrderCnt  int    `json:"order_cnt"`
	Threshold int    `json:"threshold"`
}

// CategoryCounter is a row of cdm.user_category_counters.
type CategoryCounter struct {
	CategoryID   string `json:"category_id"` // h_category_pk
	CategoryName string `json:"category_name"`
	OrderCnt     int    `json:"order_cnt"`
}

// ProductCounter is a row of cdm.user_product_counters.
type ProductCounter struct {
	ProductID   string `json:"product_id"`   // source id
	HProductPK  string `json:"h_product_pk"` // cdm product_id
	ProductName string `json:"product_name"`
	OrderCnt    int    `json:"order_cnt"`
}

// Page is one page of a list: Items are rows Offset to Offset+len(Items)-1
// of Total, ordered by By (for the top lists).
type Page[T any] struct {
	By     string `json:"by,omitempty"`
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
	Total  int    `json:"total"`
	Items  []T    `json:"items"`
}

// TopProduct is a row of GET /api/top/products.
type TopProduct struct {
	ProductID   string  `json:"product_id"` // source id
	HProductPK  string  `json:"h_product_pk"`
	ProductName string  `json:"product_name"`
	Restaurant  *string `json:"restaurant"`
	Users       int64   `json:"users"`  // distinct users with a counted order of it
	Orders      int64   `json:"orders"` // counted orders holding it
}

// TopCategory is a row of GET /api/top/categories (bi.category_popularity).
type TopCategory struct {
	CategoryID   string  `json:"category_id"`
	CategoryName string  `json:"category_name"`
	Users        int64   `json:"users"`
	Orders       int64   `json:"orders"`
	UsersPct     float64 `json:"users_pct"`  // share of all users with a counted order, %
	OrdersPct    float64 `json:"orders_pct"` // share of all category orders, %
}

// TagCount is a row of GET /api/tags (bi.tag_counts).
type TagCount struct {
	RuleID      int    `json:"rule_id"`
	Tag         string `json:"tag"`
	TargetKind  string `json:"target_kind"`  // category, product or product_name
	Target      string `json:"target"`       // category name, source product id or product name
	TargetLabel string `json:"target_label"` // the same, with a product's name
	Threshold   int    `json:"threshold"`
	Users       int64  `json:"users"`
}

// ValidUserID reports whether id can be a source user id: 1 to 64
// characters of [A-Za-z0-9_-] (the order-service's are 24 hex digits).
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// paging reads ?limit= (1..MaxLimit, default DefaultLimit) and ?offset=
// (0..1e6); anything else is an error (a 400).
func paging(r *http.Request) (limit, offset int, err error) {
	limit, offset = DefaultLimit, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return 0, 0, fmt.Errorf("limit must be an integer from 1 to %d", MaxLimit)
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return 0, 0, errors.New("offset must be an integer from 0 to 1000000")
		}
		offset = n
	}
	return limit, offset, nil
}

// topParams reads a top list's ?by=, ?limit= and ?offset=.
func topParams(r *http.Request) (by string, limit, offset int, err error) {
	if by, err = orderBy(r); err != nil {
		return "", 0, 0, err
	}
	limit, offset, err = paging(r)
	return by, limit, offset, err
}

// orderBy reads ?by=orders|users (default orders).
func orderBy(r *http.Request) (string, error) {
	switch by := r.URL.Query().Get("by"); by {
	case "", "orders":
		return "orders", nil
	case "users":
		return "users", nil
	default:
		return "", fmt.Errorf("by must be orders or users, not %q", by)
	}
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidUserID(id) {
		writeError(w, http.StatusBadRequest, "malformed user id: want 1-64 characters of A-Z a-z 0-9 _ -")
		return
	}
	limit, offset, err := paging(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if su, readAt, ok, err := s.snapshotUser(id); err != nil {
		s.serverError(w, r, err)
		return
	} else if ok && su != nil {
		writeUser(w, su.page(limit, offset), readAt)
		return
	}
	// Not in the snapshot (or none serves): read the user alone, so a user
	// the snapshot has not seen yet is never answered 404.
	u, found, err := s.readUser(r.Context(), id, limit, offset)
	switch {
	case err != nil:
		s.serverError(w, r, err)
	case !found:
		writeError(w, http.StatusNotFound, "unknown user "+id)
	default:
		writeJSON(w, http.StatusOK, u)
	}
}

func (s *Server) handleTopProducts(w http.ResponseWriter, r *http.Request) {
	by, limit, offset, err := topParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := Page[TopProduct]{By: by, Limit: limit, Offset: offset, Items: []TopProduct{}}
	err = s.readOnly(r.Context(), func(tx pgx.Tx) error {
		rows, _ := tx.Query(r.Context(), query("top_products"), by, limit, offset)
		var err error
		p.Items, err = appendRows(p.Items, rows, func(row pgx.CollectableRow) (TopProduct, error) {
			var t TopProduct
			var name *string
			err := row.Scan(&t.ProductID, &t.HProductPK, &name, &t.Restaurant, &t.Users, &t.Orders, &p.Total)
			if name != nil {
				t.ProductName = *name
			}
			return t, err
		})
		return err
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleTopCategories(w http.ResponseWriter, r *http.Request) {
	by, limit, offset, err := topParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := Page[TopCategory]{By: by, Limit: limit, Offset: offset}
	err = s.readOnly(r.Context(), func(tx pgx.Tx) error {
		var err error
		p.Items, p.Total, _, err = topCategories(r.Context(), tx, by, limit, offset)
		return err
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	var tags []TagCount
	err := s.readOnly(r.Context(), func(tx pgx.Tx) error {
		var err error
		tags, err = tagCounts(r.Context(), tx)
		return err
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tags)
}

// appendRows appends every row of rows, scanned by fn, to dst. A query
// error surfaces here (pgx reports it through rows).
func appendRows[T any](dst []T, rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	got, err := pgx.CollectRows(rows, fn)
	if err != nil {
		return dst, err
	}
	return append(dst, got...), nil
}

// readUser reads one user's answer in a single round trip: the user's hub
// key is computed here (CONTRACT §6), so the five statements need no answer
// of each other and go as one pipeline inside one read-only snapshot
// (BEGIN … COMMIT queued with them).
func (s *Server) readUser(ctx context.Context, id string, limit, offset int) (User, bool, error) {
	u := User{Tags: []UserTag{}, Categories: []CategoryCounter{}}
	u.Products = Page[ProductCounter]{Limit: limit, Offset: offset, Items: []ProductCounter{}}
	pk := vault.Hub(id)
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	b.Queue(fmt.Sprintf("SET LOCAL statement_timeout = %d", statementTimeout))
	b.Queue(query("user"), id).QueryRow(func(row pgx.Row) error {
		return row.Scan(&u.HUserPK, &u.UserID, &u.Name, &u.Login)
	})
	b.Queue(query("user_tags"), pk).Query(func(rows pgx.Rows) (err error) {
		u.Tags, err = appendRows(u.Tags, rows, func(row pgx.CollectableRow) (UserTag, error) {
			var t UserTag
			return t, row.Scan(&t.Tag, &t.RuleID, &t.OrderCnt, &t.Threshold)
		})
		return err
	})
	b.Queue(query("user_categories"), pk).Query(func(rows pgx.Rows) (err error) {
		u.Categories, err = appendRows(u.Categories, rows, func(row pgx.CollectableRow) (CategoryCounter, error) {
			var c CategoryCounter
			return c, row.Scan(&c.CategoryID, &c.CategoryName, &c.OrderCnt)
		})
		return err
	})
	b.Queue(query("user_products_count"), pk).QueryRow(func(row pgx.Row) error {
		return row.Scan(&u.Products.Total)
	})
	b.Queue(query("user_products"), pk, limit, offset).Query(func(rows pgx.Rows) (err error) {
		u.Products.Items, err = appendRows(u.Products.Items, rows, func(row pgx.CollectableRow) (ProductCounter, error) {
			var p ProductCounter
			return p, row.Scan(&p.ProductID, &p.HProductPK, &p.ProductName, &p.OrderCnt)
		})
		return err
	})
	b.Queue("COMMIT")
	err := s.pool.SendBatch(ctx, b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return u, false, nil
	}
	return u, err == nil, err
}
