package activities

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/vault"
)

// vaultTable names a Data Vault table; its load is db/queries/dds_<table>.sql.
type vaultTable string

const (
	hUser              vaultTable = "h_user"
	hProduct           vaultTable = "h_product"
	hCategory          vaultTable = "h_category"
	hRestaurant        vaultTable = "h_restaurant"
	hOrder             vaultTable = "h_order"
	lOrderProduct      vaultTable = "l_order_product"
	lOrderUser         vaultTable = "l_order_user"
	lProductRestaurant vaultTable = "l_product_restaurant"
	lProductCategory   vaultTable = "l_product_category"
	sOrderCost         vaultTable = "s_order_cost"
	sOrderStatus       vaultTable = "s_order_status"
	sOrderOwner        vaultTable = "s_order_owner"
	sUserNames         vaultTable = "s_user_names"
	sProductNames      vaultTable = "s_product_names"
	sRestaurantNames   vaultTable = "s_restaurant_names"
	namesLock          vaultTable = "names_lock" // a lock, not a table: no rows, no count
)

// load is the table's statement with args; ldt and the load source follow
// them, as every dds_<table>.sql expects.
func (t vaultTable) load(ldt time.Time, args ...any) stmt {
	return stmt{string(t), append(args, ldt, vault.LoadSrc)}
}

// hubRows are a hub's rows: key and business key.
type hubRows struct {
	pk []uuid.UUID
	id []string
}

func (h *hubRows) add(pk uuid.UUID, id string) { h.pk, h.id = append(h.pk, pk), append(h.id, id) }

// orderHubRows are h_order's rows: key, order id and order date.
type orderHubRows struct {
	pk      []uuid.UUID
	id      []int64
	orderDT []time.Time
}

// linkRows are a link's rows: key and the keys of the two hubs it links.
type linkRows struct{ pk, a, b []uuid.UUID }

// userNameRows are s_user_names' rows (a user without reference data has none).
type userNameRows struct {
	pk          []uuid.UUID
	name, login []*string
	hashDiff    []uuid.UUID
}

// nameRows are s_product_names' or s_restaurant_names' rows.
type nameRows struct {
	pk       []uuid.UUID
	name     []string
	hashDiff []uuid.UUID
}

func (n *nameRows) add(pk uuid.UUID, name string) {
	n.pk, n.name = append(n.pk, pk), append(n.name, name)
	n.hashDiff = append(n.hashDiff, vault.HashDiff(pk, name))
}

// orderCostRows are s_order_cost's rows.
type orderCostRows struct {
	pk            []uuid.UUID
	cost, payment []string
	hashDiff      []uuid.UUID
}

// orderStatusRows are s_order_status' rows.
type orderStatusRows struct {
	pk       []uuid.UUID
	status   []string
	updateTS []time.Time
	hashDiff []uuid.UUID
}

// orderOwnerRows are s_order_owner's rows: each version's user and
// restaurant (its products are the order's l_order_product pairs of this
// batch, aggregated in SQL).
type orderOwnerRows struct {
	pk, user, restaurant []uuid.UUID
	updateTS             []time.Time
	hashDiff             []uuid.UUID
}

// vaultRows holds one batch's Data Vault rows, one set per table, as column
// arrays with one entry per key (deduplicated), ready for INSERT … SELECT
// FROM unnest(…).
type vaultRows struct {
	seen map[seenKey]bool

	users, products, categories, restaurants hubRows
	orders                                   orderHubRows

	orderProduct, orderUser, productRestaurant, productCategory linkRows

	userNames                     userNameRows
	productNames, restaurantNames nameRows
	orderCost                     orderCostRows
	orderStatus                   orderStatusRows
	orderOwner                    orderOwnerRows
}

type seenKey struct {
	table vaultTable
	key   uuid.UUID
}

func newVaultRows() *vaultRows { return &vaultRows{seen: map[seenKey]bool{}} }

// first reports whether key k of table is seen for the first time in this batch.
func (v *vaultRows) first(table vaultTable, k uuid.UUID) bool {
	if v.seen == nil {
		v.seen = map[seenKey]bool{}
	}
	sk := seenKey{table, k}
	if v.seen[sk] {
		return false
	}
	v.seen[sk] = true
	return true
}

// link adds the link of a and b to table's rows l, once per batch.
func (v *vaultRows) link(table vaultTable, l *linkRows, a, b uuid.UUID) {
	pk := vault.Link(a, b)
	if !v.first(table, pk) {
		return
	}
	l.pk, l.a, l.b = append(l.pk, pk), append(l.a, a), append(l.b, b)
}

// add folds one enriched order (the batch's current version) into the rows.
func (v *vaultRows) add(e order.Enriched, updateTS time.Time) error {
	p := e.Payload
	orderDT, err := order.ParseTime(p.Date)
	if err != nil {
		return fmt.Errorf("order %d: date: %w", e.ObjectID, err)
	}
	oPK, uPK, rPK := vault.OrderHub(e.ObjectID), vault.Hub(p.User.ID), vault.Hub(p.Restaurant.ID)
	if v.first(hOrder, oPK) {
		v.addOrder(e, oPK, uPK, rPK, orderDT, updateTS)
	}
	if v.first(hUser, uPK) {
		v.addUser(p.User, uPK)
	}
	if v.first(hRestaurant, rPK) {
		v.restaurants.add(rPK, p.Restaurant.ID)
		v.restaurantNames.add(rPK, p.Restaurant.Name)
	}
	v.link(lOrderUser, &v.orderUser, oPK, uPK)
	for _, pr := range p.Products {
		v.addProduct(pr, oPK, rPK)
	}
	return nil
}

// addOrder adds the order's hub row and its cost, status and owner satellite rows.
func (v *vaultRows) addOrder(e order.Enriched, oPK, uPK, rPK uuid.UUID, orderDT, updateTS time.Time) {
	p := e.Payload
	o := &v.orders
	o.pk, o.id, o.orderDT = append(o.pk, oPK), append(o.id, e.ObjectID), append(o.orderDT, orderDT)

	cost, pay := vault.Num(p.Cost), vault.Num(p.Payment)
	c := &v.orderCost
	c.pk, c.cost, c.payment = append(c.pk, oPK), append(c.cost, cost), append(c.payment, pay)
	c.hashDiff = append(c.hashDiff, vault.HashDiff(oPK, cost, pay))

	s := &v.orderStatus
	s.pk, s.status, s.updateTS = append(s.pk, oPK), append(s.status, p.Status), append(s.updateTS, updateTS)
	s.hashDiff = append(s.hashDiff, vault.HashDiff(oPK, p.Status, vault.Time(updateTS)))

	w := &v.orderOwner
	w.pk, w.user, w.restaurant = append(w.pk, oPK), append(w.user, uPK), append(w.restaurant, rPK)
	w.updateTS = append(w.updateTS, updateTS)
	attrs := append([]string{uPK.String(), rPK.String(), vault.Time(updateTS)}, productKeys(p.Products)...)
	w.hashDiff = append(w.hashDiff, vault.HashDiff(oPK, attrs...))
}

// addUser adds the user's hub row and, when Redis knew the user, its names row.
func (v *vaultRows) addUser(u order.UserRef, uPK uuid.UUID) {
	v.users.add(uPK, u.ID)
	if u.Name == nil {
		return
	}
	n := &v.userNames
	n.pk, n.name, n.login = append(n.pk, uPK), append(n.name, u.Name), append(n.login, u.Login)
	n.hashDiff = append(n.hashDiff, vault.HashDiff(uPK, vault.Opt(u.Name), vault.Opt(u.Login)))
}

// addProduct adds an order line: the product's and its category's hub
// rows, the product's names row and the line's three links.
func (v *vaultRows) addProduct(pr order.Product, oPK, rPK uuid.UUID) {
	pPK, cPK := vault.Hub(pr.ID), vault.Hub(pr.Category)
	if v.first(hProduct, pPK) {
		v.products.add(pPK, pr.ID)
		v.productNames.add(pPK, pr.Name)
	}
	if v.first(hCategory, cPK) {
		v.categories.add(cPK, pr.Category)
	}
	v.link(lOrderProduct, &v.orderProduct, oPK, pPK)
	v.link(lProductRestaurant, &v.productRestaurant, pPK, rPK)
	v.link(lProductCategory, &v.productCategory, pPK, cPK)
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

// hubStmts are the hubs' loads (they commit before anything that names them).
func (v *vaultRows) hubStmts(ldt time.Time) []stmt {
	o := v.orders
	return []stmt{
		hUser.load(ldt, v.users.pk, v.users.id),
		hProduct.load(ldt, v.products.pk, v.products.id),
		hCategory.load(ldt, v.categories.pk, v.categories.id),
		hRestaurant.load(ldt, v.restaurants.pk, v.restaurants.id),
		hOrder.load(ldt, o.pk, o.id, o.orderDT),
	}
}

// orderLineStmts is l_order_product (an order's every line), the largest
// statement of the load: it gets a connection of its own.
func (v *vaultRows) orderLineStmts(ldt time.Time) []stmt {
	return []stmt{v.orderProduct.load(lOrderProduct, ldt)}
}

// linkStmts are the other links' loads.
func (v *vaultRows) linkStmts(ldt time.Time) []stmt {
	return []stmt{
		v.orderUser.load(lOrderUser, ldt),
		v.productRestaurant.load(lProductRestaurant, ldt),
		v.productCategory.load(lProductCategory, ldt),
	}
}

func (l linkRows) load(table vaultTable, ldt time.Time) stmt { return table.load(ldt, l.pk, l.a, l.b) }

// satStmts are the satellites' loads. The order satellites are keyed by
// (order, hashdiff) and need no lock; the name satellites compare with the
// latest row, so concurrent pipelines take turns there (names_lock, held
// until commit).
func (v *vaultRows) satStmts(ldt time.Time) []stmt {
	c, s, w, u := v.orderCost, v.orderStatus, v.orderOwner, v.userNames
	return []stmt{
		sOrderCost.load(ldt, c.pk, c.cost, c.payment, c.hashDiff),
		sOrderStatus.load(ldt, s.pk, s.status, s.updateTS, s.hashDiff),
		sOrderOwner.load(ldt, w.pk, w.user, w.restaurant, w.updateTS, w.hashDiff,
			v.orderProduct.a, v.orderProduct.b),
		{table: string(namesLock)},
		sUserNames.load(ldt, u.pk, u.name, u.login, u.hashDiff),
		v.productNames.load(sProductNames, ldt),
		v.restaurantNames.load(sRestaurantNames, ldt),
	}
}

func (n nameRows) load(table vaultTable, ldt time.Time) stmt {
	return table.load(ldt, n.pk, n.name, n.hashDiff)
}
