package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The floor experiment (issue 12): how long the same server takes to write
// the rows a drain wrote (STG, vault, counters, marts) when nothing but
// writing is asked of it: plain COPY, one session, into bare tables (no
// keys, indexes or constraints). Our drain time divided by this is the
// distance to the machine's limit.

// floorTables are the tables a drain leaves rows in, in the order they are
// copied. The working rows (stg.batch_messages, stg.batch_orders) are
// deleted when a batch commits, and counters are updated many times where
// the floor writes each once, so the floor is a lower bound.
var floorTables = []string{
	"stg.order_events", "stg.rejected_messages", "stg.batches",
	"dds.h_user", "dds.h_product", "dds.h_category", "dds.h_restaurant", "dds.h_order",
	"dds.l_order_product", "dds.l_product_restaurant", "dds.l_product_category", "dds.l_order_user",
	"dds.s_user_names", "dds.s_product_names", "dds.s_restaurant_names",
	"dds.s_order_cost", "dds.s_order_status", "dds.s_order_owner",
	"dds.b_order_product_counted", "dds.b_order_category_counted",
	"dds.b_user_product_cnt", "dds.b_user_category_cnt",
	"cdm.user_product_counters", "cdm.user_category_counters",
}

// FloorTable is one table's copy in the floor experiment.
type FloorTable struct {
	Table   string  `json:"table"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
}

// FloorResult is the floor experiment's outcome: the COPY time of every
// table the drain wrote, and the drain it is compared with.
type FloorResult struct {
	Orders       int          `json:"orders"`
	Tables       []FloorTable `json:"tables"`
	Rows         int64        `json:"rows"`
	FloorSeconds float64      `json:"floor_seconds"`
	DrainSeconds float64      `json:"drain_seconds"`
	Ratio        float64      `json:"ratio"` // drain / floor
}

// measureFloor reads every table the drain wrote into memory, then copies it
// with COPY into a bare table of the same columns (CREATE TABLE … (LIKE …)
// keeps only the columns and NOT NULL) on one connection, timing only the
// writes. The bare tables live in schema bench_floor, dropped afterwards.
func measureFloor(ctx context.Context, pool *pgxpool.Pool, orders int, drainSeconds float64) (FloorResult, error) {
	res := FloorResult{Orders: orders, DrainSeconds: drainSeconds}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Release()
	c := conn.Conn()
	if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS bench_floor CASCADE; CREATE SCHEMA bench_floor"); err != nil {
		return res, fmt.Errorf("floor schema: %w", err)
	}
	defer func() { _, _ = c.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS bench_floor CASCADE") }()
	for _, table := range floorTables {
		bare := pgx.Identifier{"bench_floor", bareName(table)}.Sanitize()
		rows, cols, err := readTable(ctx, c, table)
		if err != nil {
			return res, err
		}
		if _, err := c.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (LIKE %s)", bare, table)); err != nil {
			return res, fmt.Errorf("bare copy of %s: %w", table, err)
		}
		start := time.Now()
		n, err := c.CopyFrom(ctx, pgx.Identifier{"bench_floor", bareName(table)}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			return res, fmt.Errorf("copy into the bare %s: %w", table, err)
		}
		sec := time.Since(start).Seconds()
		res.Tables = append(res.Tables, FloorTable{Table: table, Rows: n, Seconds: sec})
		res.Rows += n
		res.FloorSeconds += sec
	}
	if res.FloorSeconds > 0 {
		res.Ratio = drainSeconds / res.FloorSeconds
	}
	return res, nil
}

// bareName is the bare table's name for schema.table: schema_table.
func bareName(table string) string {
	return strings.ReplaceAll(table, ".", "_")
}

// readTable reads a whole table into memory, with its column names.
func readTable(ctx context.Context, c *pgx.Conn, table string) ([][]any, []string, error) {
	rows, err := c.Query(ctx, "SELECT * FROM "+table)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", table, err)
		}
		out = append(out, vals)
	}
	return out, cols, rows.Err()
}
