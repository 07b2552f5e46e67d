package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/order"
)

// LoadDdsVault loads the batch's orders into the Data Vault: keys computed
// here, one INSERT … SELECT FROM unnest(…) per table, all in one transaction.
// Every statement is idempotent, so a retry adds no row.
func (a *Activities) LoadDdsVault(ctx context.Context, in BatchInput) (LoadDdsResult, error) {
	defer heartbeat(ctx)()
	res := LoadDdsResult{Rows: map[string]int64{}}
	if err := a.runHook(ctx, a.DB.Dds, LoadDdsVaultName, in.Batch.BatchID); err != nil {
		return res, err
	}
	batch, err := a.enrichedOrders(ctx, in.Batch.BatchID)
	if err != nil {
		return res, classify(err)
	}
	v := newVaultRows()
	for _, o := range batch {
		if o.err != nil {
			return res, permanent(ErrTypeCorruptBatch, fmt.Errorf("stg.batch_orders order %d: %w", o.id, o.err))
		}
		if err := v.add(o.e, o.updateTS); err != nil {
			return res, permanent(ErrTypeCorruptBatch, err)
		}
		res.Orders++
	}
	if res.Orders == 0 {
		return res, nil
	}
	if err := a.loadVaultRows(ctx, v, in.Batch.LoadDT, res.Rows); err != nil {
		return res, classify(err)
	}
	for table, n := range res.Rows {
		observe.AddRows("dds."+table, n)
	}
	return res, nil
}

// enrichedOrder is one stg.batch_orders row: the order's enriched message,
// decoded (or why it could not be).
type enrichedOrder struct {
	id       int64
	updateTS time.Time
	body     []byte
	e        order.Enriched
	err      error
}

// enrichedOrders reads the batch's enriched orders and decodes them on every CPU.
func (a *Activities) enrichedOrders(ctx context.Context, batchID string) ([]enrichedOrder, error) {
	rows, err := a.DB.Dds.Query(ctx, db.Query("stg_batch_enriched"), batchID)
	if err != nil {
		return nil, fmt.Errorf("read stg.batch_orders: %w", err)
	}
	var batch []enrichedOrder
	for rows.Next() {
		var o enrichedOrder
		if err := rows.Scan(&o.id, &o.updateTS, &o.body); err != nil {
			rows.Close()
			return nil, err
		}
		batch = append(batch, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	parallel(len(batch), func(i int) { batch[i].err = json.Unmarshal(batch[i].body, &batch[i].e) })
	return batch, nil
}

// loadVaultRows loads v, loaded at ldt, and adds each table's new rows to
// added: the hubs first, then the order lines, the other links and the
// satellites at once on three connections. The vault has no FOREIGN KEYs
// (migration 014, CONTRACT §6; orderflow verify finds orphans), but the hubs
// still commit first: a record that makes a hub insert fail then fails
// before any link or satellite names it, so setting it aside (the safety
// net) leaves no orphan behind. Each group is one transaction and every
// statement is idempotent, so a retry after a partial load completes it
// without adding a row.
func (a *Activities) loadVaultRows(ctx context.Context, v *vaultRows, ldt time.Time, added map[string]int64) error {
	hubRows, err := a.loadVault(ctx, v.hubStmts(ldt))
	if err != nil {
		return err
	}
	maps.Copy(added, hubRows)
	groups := [][]stmt{v.orderLineStmts(ldt), v.linkStmts(ldt), v.satStmts(ldt)}
	groupRows := make([]map[string]int64, len(groups))
	g, gctx := errgroup.WithContext(ctx)
	for i, group := range groups {
		g.Go(func() (err error) { groupRows[i], err = a.loadVault(gctx, group); return err })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, rows := range groupRows {
		maps.Copy(added, rows)
	}
	return nil
}

// stmt is one Data Vault table's load: its query (db/queries/dds_<table>.sql)
// and arguments; a stmt without arguments (a lock) adds no count.
type stmt struct {
	table string
	args  []any
}

// loadVault runs stmts in order, pipelined in one transaction, and returns
// the rows each added.
func (a *Activities) loadVault(ctx context.Context, stmts []stmt) (map[string]int64, error) {
	rows := map[string]int64{}
	var locked time.Time // when a lock statement (names_lock) returned
	err := pgx.BeginFunc(ctx, a.DB.Dds, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, s := range stmts {
			batch.Queue(db.Query("dds_"+s.table), s.args...)
		}
		br := tx.SendBatch(ctx, batch)
		for _, s := range stmts {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return fmt.Errorf("insert dds.%s: %w", s.table, err)
			}
			if s.args != nil {
				rows[s.table] = tag.RowsAffected()
			} else {
				locked = time.Now()
			}
		}
		return br.Close()
	})
	if !locked.IsZero() {
		observe.LockHeld("names", time.Since(locked))
	}
	return rows, err
}

// userCounters is the message of CONTRACT §7.
type userCounters struct {
	UserID     string                   `json:"user_id"`
	Categories map[string]categoryCount `json:"categories"`
	Products   map[string]productCount  `json:"products"`
}

type categoryCount struct {
	CategoryName string `json:"category_name"`
	OrderCnt     int    `json:"order_cnt"`
}

type productCount struct {
	ProductName string `json:"product_name"`
	OrderCnt    int    `json:"order_cnt"`
}

// EmitCounters folds the batch's orders into the per-user counters (only
// what changed: an order's contribution is added, kept, moved to another
// user or taken back) and publishes the touched users' cumulative counters
// to dds-service-orders.
func (a *Activities) EmitCounters(ctx context.Context, in BatchInput) (EmitCountersResult, error) {
	defer heartbeat(ctx)()
	var res EmitCountersResult
	if err := a.runHook(ctx, a.DB.Dds, EmitCountersName, in.Batch.BatchID); err != nil {
		return res, err
	}
	var orders, users []uuid.UUID
	err := a.DB.Dds.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT h_order_pk), '{}'), coalesce(array_agg(DISTINCT h_user_pk), '{}')
		FROM stg.batch_orders WHERE batch_id = $1`, in.Batch.BatchID).Scan(&orders, &users)
	if err != nil {
		return res, classify(fmt.Errorf("read the batch's keys: %w", err))
	}
	res, err = a.foldAndEmit(ctx, orders, users)
	return res, classify(err)
}

// userCounterRecords reads the users' cumulative counters (CONTRACT §7), one
// dds-service-orders record per user.
func (a *Activities) userCounterRecords(ctx context.Context, tx pgx.Tx, users []uuid.UUID) ([]*kgo.Record, error) {
	rows, err := tx.Query(ctx, db.Query("dds_user_counters"), users)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	byUser := map[string]*userCounters{}
	var ids []string
	for rows.Next() {
		var user, kind, key, name string
		var cnt int
		if err := rows.Scan(&user, &kind, &key, &name, &cnt); err != nil {
			rows.Close()
			return nil, err
		}
		u := byUser[user]
		if u == nil {
			u = &userCounters{UserID: user, Categories: map[string]categoryCount{}, Products: map[string]productCount{}}
			byUser[user] = u
			ids = append(ids, user)
		}
		switch kind {
		case "product":
			u.Products[key] = productCount{ProductName: name, OrderCnt: cnt}
		case "category":
			u.Categories[key] = categoryCount{CategoryName: name, OrderCnt: cnt}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	recs := make([]*kgo.Record, 0, len(ids))
	for _, id := range ids {
		body, _ := json.Marshal(byUser[id])
		recs = append(recs, &kgo.Record{Topic: a.Settings.Kafka.DdsTopic, Key: []byte(id), Value: body})
	}
	return recs, nil
}
