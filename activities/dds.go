package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/vault"
)

// vaultRows holds one batch's Data Vault rows as column arrays, one entry
// per key (deduplicated), ready for INSERT … SELECT FROM unnest(…).
type vaultRows struct {
	seen map[seenKey]bool

	userPK, productPK, categoryPK, restaurantPK, orderPK []uuid.UUID
	userID, productID, categoryName, restaurantID        []string
	orderID                                              []int64
	orderDT                                              []time.Time

	links [4]struct{ pk, a, b []uuid.UUID } // order_product, product_restaurant, product_category, order_user

	unPK            []uuid.UUID
	unName, unLogin []*string
	unHD            []uuid.UUID
	pnPK, pnHD      []uuid.UUID
	pnName          []string
	rnPK, rnHD      []uuid.UUID
	rnName          []string
	ocPK, ocHD      []uuid.UUID
	ocCost, ocPay   []string
	osPK, osHD      []uuid.UUID
	osStatus        []string
	osUpdate        []time.Time
	// s_order_owner: each version's user and restaurant (its products are
	// the order's l_order_product pairs of this batch, aggregated in SQL).
	owPK, owUser, owRest, owHD []uuid.UUID
	owUpdate                   []time.Time
}

const (
	linkOrderProduct = iota
	linkProductRestaurant
	linkProductCategory
	linkOrderUser
)

type seenKey struct {
	table int
	key   uuid.UUID
}

// first reports whether key k of the given table is seen for the first time in this batch.
func (v *vaultRows) first(table int, k uuid.UUID) bool {
	sk := seenKey{table, k}
	if v.seen[sk] {
		return false
	}
	v.seen[sk] = true
	return true
}

func (v *vaultRows) link(kind int, a, b uuid.UUID) {
	pk := vault.Link(a, b)
	if !v.first(10+kind, pk) {
		return
	}
	l := &v.links[kind]
	l.pk, l.a, l.b = append(l.pk, pk), append(l.a, a), append(l.b, b)
}

// add folds one enriched order (the batch's current version) into the rows.
func (v *vaultRows) add(e order.Enriched, updateTS time.Time) error {
	p := e.Payload
	orderDT, err := order.ParseTime(p.Date)
	if err != nil {
		return fmt.Errorf("order %d: date: %w", e.ObjectID, err)
	}
	oPK := vault.OrderHub(e.ObjectID)
	uPK := vault.Hub(p.User.ID)
	rPK := vault.Hub(p.Restaurant.ID)
	if v.first(1, oPK) {
		v.orderPK, v.orderID, v.orderDT = append(v.orderPK, oPK), append(v.orderID, e.ObjectID), append(v.orderDT, orderDT)
		cost, pay := vault.Num(p.Cost), vault.Num(p.Payment)
		v.ocPK, v.ocCost, v.ocPay = append(v.ocPK, oPK), append(v.ocCost, cost), append(v.ocPay, pay)
		v.ocHD = append(v.ocHD, vault.HashDiff(oPK, cost, pay))
		v.osPK, v.osStatus, v.osUpdate = append(v.osPK, oPK), append(v.osStatus, p.Status), append(v.osUpdate, updateTS)
		v.osHD = append(v.osHD, vault.HashDiff(oPK, p.Status, vault.Time(updateTS)))
		v.owPK, v.owUser, v.owRest, v.owUpdate = append(v.owPK, oPK), append(v.owUser, uPK), append(v.owRest, rPK), append(v.owUpdate, updateTS)
		v.owHD = append(v.owHD, vault.HashDiff(oPK, append([]string{uPK.String(), rPK.String(), vault.Time(updateTS)}, productKeys(p.Products)...)...))
	}
	if v.first(2, uPK) {
		v.userPK, v.userID = append(v.userPK, uPK), append(v.userID, p.User.ID)
		if p.User.Name != nil {
			v.unPK, v.unName, v.unLogin = append(v.unPK, uPK), append(v.unName, p.User.Name), append(v.unLogin, p.User.Login)
			v.unHD = append(v.unHD, vault.HashDiff(uPK, vault.Opt(p.User.Name), vault.Opt(p.User.Login)))
		}
	}
	if v.first(3, rPK) {
		v.restaurantPK, v.restaurantID = append(v.restaurantPK, rPK), append(v.restaurantID, p.Restaurant.ID)
		v.rnPK, v.rnName = append(v.rnPK, rPK), append(v.rnName, p.Restaurant.Name)
		v.rnHD = append(v.rnHD, vault.HashDiff(rPK, p.Restaurant.Name))
	}
	v.link(linkOrderUser, oPK, uPK)
	for _, pr := range p.Products {
		pPK := vault.Hub(pr.ID)
		cPK := vault.Hub(pr.Category)
		if v.first(4, pPK) {
			v.productPK, v.productID = append(v.productPK, pPK), append(v.productID, pr.ID)
			v.pnPK, v.pnName = append(v.pnPK, pPK), append(v.pnName, pr.Name)
			v.pnHD = append(v.pnHD, vault.HashDiff(pPK, pr.Name))
		}
		if v.first(5, cPK) {
			v.categoryPK, v.categoryName = append(v.categoryPK, cPK), append(v.categoryName, pr.Category)
		}
		v.link(linkOrderProduct, oPK, pPK)
		v.link(linkProductRestaurant, pPK, rPK)
		v.link(linkProductCategory, pPK, cPK)
	}
	return nil
}

// LoadDdsVault loads the batch's orders into the Data Vault: keys computed
// here, one INSERT … SELECT FROM unnest(…) per table, all in one transaction.
// Every statement is idempotent, so a retry adds no row.
func (a *Activities) LoadDdsVault(ctx context.Context, in BatchInput) (LoadDdsResult, error) {
	defer heartbeat(ctx)()
	res := LoadDdsResult{Rows: map[string]int64{}}
	if err := a.injectedPoison(ctx, a.DB.Dds, "LoadDdsVault", in.Batch.BatchID); err != nil {
		return res, err
	}
	rows, err := a.DB.Dds.Query(ctx, db.Query("stg_batch_enriched"), in.Batch.BatchID)
	if err != nil {
		return res, classify(fmt.Errorf("read stg.batch_orders: %w", err))
	}
	type row struct {
		id       int64
		updateTS time.Time
		body     []byte
		e        order.Enriched
		err      error
	}
	var batch []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.updateTS, &r.body); err != nil {
			rows.Close()
			return res, classify(err)
		}
		batch = append(batch, r)
	}
	if err := rows.Err(); err != nil {
		return res, classify(err)
	}
	parallel(len(batch), func(i int) { batch[i].err = json.Unmarshal(batch[i].body, &batch[i].e) })
	v := &vaultRows{seen: map[seenKey]bool{}}
	for _, r := range batch {
		if r.err != nil {
			return res, permanent(ErrTypeCorruptBatch, fmt.Errorf("stg.batch_orders order %d: %w", r.id, r.err))
		}
		if err := v.add(r.e, r.updateTS); err != nil {
			return res, permanent(ErrTypeCorruptBatch, err)
		}
		res.Orders++
	}
	if res.Orders == 0 {
		return res, nil
	}
	ldt, src := in.Batch.LoadDT, vault.LoadSrc
	hubs := []stmt{
		{"h_user", []any{v.userPK, v.userID, ldt, src}},
		{"h_product", []any{v.productPK, v.productID, ldt, src}},
		{"h_category", []any{v.categoryPK, v.categoryName, ldt, src}},
		{"h_restaurant", []any{v.restaurantPK, v.restaurantID, ldt, src}},
		{"h_order", []any{v.orderPK, v.orderID, v.orderDT, ldt, src}},
	}
	// l_order_product (an order's every line) is the largest statement of
	// the load: it gets a connection of its own.
	orderLines := []stmt{
		{"l_order_product", linkArgs(v.links[linkOrderProduct], ldt)},
	}
	links := []stmt{
		{"l_order_user", linkArgs(v.links[linkOrderUser], ldt)},
		{"l_product_restaurant", linkArgs(v.links[linkProductRestaurant], ldt)},
		{"l_product_category", linkArgs(v.links[linkProductCategory], ldt)},
	}
	// The order satellites are keyed by (order, hashdiff) and need no lock;
	// the name satellites compare with the latest row, so concurrent
	// pipelines take turns there (names_lock, held until commit).
	sats := []stmt{
		{"s_order_cost", []any{v.ocPK, v.ocCost, v.ocPay, v.ocHD, ldt, src}},
		{"s_order_status", []any{v.osPK, v.osStatus, v.osUpdate, v.osHD, ldt, src}},
		{"s_order_owner", []any{v.owPK, v.owUser, v.owRest, v.owUpdate, v.owHD,
			v.links[linkOrderProduct].a, v.links[linkOrderProduct].b, ldt, src}},
		{table: "names_lock"},
		{"s_user_names", []any{v.unPK, v.unName, v.unLogin, v.unHD, ldt, src}},
		{"s_product_names", []any{v.pnPK, v.pnName, v.pnHD, ldt, src}},
		{"s_restaurant_names", []any{v.rnPK, v.rnName, v.rnHD, ldt, src}},
	}
	// Hubs first (links and satellites reference them), then the order
	// lines, the other links and the satellites at once on three
	// connections. Each group is one transaction and every statement is
	// idempotent, so a retry after a partial load completes it without
	// adding a row.
	hubRows, err := a.loadVault(ctx, hubs)
	if err != nil {
		return res, classify(err)
	}
	maps.Copy(res.Rows, hubRows)
	groups := [][]stmt{orderLines, links, sats}
	groupRows := make([]map[string]int64, len(groups))
	g, gctx := errgroup.WithContext(ctx)
	for i, group := range groups {
		g.Go(func() (err error) { groupRows[i], err = a.loadVault(gctx, group); return err })
	}
	if err := g.Wait(); err != nil {
		return res, classify(err)
	}
	for _, rows := range groupRows {
		maps.Copy(res.Rows, rows)
	}
	for table, n := range res.Rows {
		observe.AddRows("dds."+table, n)
	}
	return res, nil
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
			}
		}
		return br.Close()
	})
	return rows, err
}

// productKeys lists the hub keys of an order's products, sorted and distinct,
// as strings (the owner hashdiff's attributes).
func productKeys(products []order.Product) []string {
	keys := make([]string, 0, len(products))
	for _, pr := range products {
		keys = append(keys, vault.Hub(pr.ID).String())
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func linkArgs(l struct{ pk, a, b []uuid.UUID }, ldt time.Time) []any {
	return []any{l.pk, l.a, l.b, ldt, vault.LoadSrc}
}

// userCounters is the message of SPEC 7.
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
	if err := a.injectedPoison(ctx, a.DB.Dds, "EmitCounters", in.Batch.BatchID); err != nil {
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

// foldAndEmit folds orders into the per-user counters and publishes the
// cumulative counters of users and of every user whose counters moved.
// The two families fold at once, each under its own lock and in its own
// transaction (each fold is a no-op when repeated, so a retry after one
// committed is safe); then, under both locks, the users' counters are read
// and published, so concurrent pipelines publish each user's states in order.
func (a *Activities) foldAndEmit(ctx context.Context, orders, users []uuid.UUID) (EmitCountersResult, error) {
	var res EmitCountersResult
	var moved [2][]uuid.UUID
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		moved[0], err = a.applyCounts(gctx, productCounters, "dds_apply_product_counts", orders)
		res.ProductChanges = int64(len(moved[0]))
		return err
	})
	g.Go(func() (err error) {
		moved[1], err = a.applyCounts(gctx, categoryCounters, "dds_apply_category_counts", orders)
		res.CategoryChanges = int64(len(moved[1]))
		return err
	})
	if err := g.Wait(); err != nil {
		return res, err
	}
	touched := slices.Concat(users, moved[0], moved[1])
	slices.SortFunc(touched, func(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) })
	touched = slices.Compact(touched)
	err := withCounters(ctx, a.DB.Dds, func(tx pgx.Tx) error {
		recs, err := a.userCounterRecords(ctx, tx, touched)
		if err != nil {
			return err
		}
		if err := a.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce %s: %w", a.Cfg.Kafka.DdsTopic, err)
		}
		res.Users = len(recs)
		return nil
	}, productCounters, categoryCounters)
	if err != nil {
		return res, err
	}
	observe.AddRows("dds.b_user_product_cnt", res.ProductChanges)
	observe.AddRows("dds.b_user_category_cnt", res.CategoryChanges)
	return res, nil
}

// userCounterRecords reads the users' cumulative counters (SPEC 7), one
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
		recs = append(recs, &kgo.Record{Topic: a.Cfg.Kafka.DdsTopic, Key: []byte(id), Value: body})
	}
	return recs, nil
}

// A counter family: its tables change under its own lock (counters_lock.sql).
type counterFamily int

const (
	productCounters  counterFamily = 1
	categoryCounters counterFamily = 2
)

func (f counterFamily) String() string {
	if f == productCounters {
		return "product counters"
	}
	return "category counters"
}

// withCounters runs fn in a transaction of pool that first takes the locks
// of families (pass them in ascending order, so no two transactions wait on
// each other); the locks last until it ends.
func withCounters(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error, families ...counterFamily) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, f := range families {
			if _, err := tx.Exec(ctx, db.Query("counters_lock"), int(f)); err != nil {
				return fmt.Errorf("lock %s: %w", f, err)
			}
		}
		return fn(tx)
	})
}

// applyCounts runs one family's fold (query) for the orders under the
// family's lock and returns the user of every counter it changed.
func (a *Activities) applyCounts(ctx context.Context, f counterFamily, query string, orders []uuid.UUID) (users []uuid.UUID, err error) {
	err = withCounters(ctx, a.DB.Dds, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, db.Query(query), orders)
		if err != nil {
			return fmt.Errorf("apply %s: %w", f, err)
		}
		users, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("apply %s: %w", f, err)
		}
		return nil
	}, f)
	return users, err
}
