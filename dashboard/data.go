package dashboard

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dish is a row of bi.dish_popularity: a product name with its distinct
// users and counted orders.
type Dish struct {
	Dish      string
	Users     int64
	Orders    int64
	UsersPct  float64
	OrdersPct float64
}

// Batch is a row of stg.batches; Ms is committed_at - started_at in
// milliseconds, nil until the batch commits.
type Batch struct {
	ID          string
	Shard       int
	Shards      int
	StartedAt   time.Time
	CommittedAt *time.Time
	Fetched     int
	Backlog     int64
	Orders      *int
	Rejected    *int
	Ms          *int64
}

// RejectedCount is the number of open and resolved rejected messages of a reason.
type RejectedCount struct {
	Reason   string
	Open     int64
	Resolved int64
}

// topCategories returns a page of categories, how many there are, and how
// many users have a counted order.
func topCategories(ctx context.Context, tx pgx.Tx, by string, limit, offset int) (items []TopCategory, total int, users int64, err error) {
	rows, _ := tx.Query(ctx, query("top_categories"), by, limit, offset)
	items, err = appendRows([]TopCategory{}, rows, func(row pgx.CollectableRow) (TopCategory, error) {
		var c TopCategory
		return c, row.Scan(&c.CategoryID, &c.CategoryName, &c.Users, &c.Orders, &c.UsersPct, &c.OrdersPct, &total, &users)
	})
	return items, total, users, err
}

// pageCategories returns the top n categories by share of users and by
// share of orders, and how many users have a counted order.
func pageCategories(ctx context.Context, tx pgx.Tx, n int) (byUsers, byOrders []TopCategory, users int64, err error) {
	rows, _ := tx.Query(ctx, query("page_categories"), n)
	var by string
	var c TopCategory
	_, err = pgx.ForEachRow(rows, []any{&by, &c.CategoryName, &c.Users, &c.Orders, &c.UsersPct, &c.OrdersPct, &users}, func() error {
		if by == "users" {
			byUsers = append(byUsers, c)
		} else {
			byOrders = append(byOrders, c)
		}
		return nil
	})
	return byUsers, byOrders, users, err
}

// pageDishes returns the top n dishes by distinct users and by orders.
func pageDishes(ctx context.Context, tx pgx.Tx, n int) (byUsers, byOrders []Dish, err error) {
	rows, _ := tx.Query(ctx, query("page_dishes"), n)
	var by string
	var d Dish
	_, err = pgx.ForEachRow(rows, []any{&by, &d.Dish, &d.Users, &d.Orders, &d.UsersPct, &d.OrdersPct}, func() error {
		if by == "users" {
			byUsers = append(byUsers, d)
		} else {
			byOrders = append(byOrders, d)
		}
		return nil
	})
	return byUsers, byOrders, err
}

func tagCounts(ctx context.Context, tx pgx.Tx) ([]TagCount, error) {
	rows, _ := tx.Query(ctx, query("tag_counts"))
	return appendRows([]TagCount{}, rows, func(row pgx.CollectableRow) (TagCount, error) {
		var t TagCount
		return t, row.Scan(&t.RuleID, &t.Tag, &t.TargetKind, &t.Target, &t.TargetLabel, &t.Threshold, &t.Users)
	})
}

func lastBatches(ctx context.Context, tx pgx.Tx, n int) ([]Batch, error) {
	rows, _ := tx.Query(ctx, query("batches"), n)
	return appendRows([]Batch{}, rows, func(row pgx.CollectableRow) (Batch, error) {
		var b Batch
		return b, row.Scan(&b.ID, &b.Shard, &b.Shards, &b.StartedAt, &b.CommittedAt, &b.Fetched, &b.Backlog,
			&b.Orders, &b.Rejected, &b.Ms)
	})
}

func rejectedCounts(ctx context.Context, tx pgx.Tx) ([]RejectedCount, error) {
	rows, _ := tx.Query(ctx, query("rejected"))
	return appendRows([]RejectedCount{}, rows, func(row pgx.CollectableRow) (RejectedCount, error) {
		var c RejectedCount
		return c, row.Scan(&c.Reason, &c.Open, &c.Resolved)
	})
}
