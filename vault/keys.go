// Package vault derives the Data Vault's keys (CONTRACT §6): hub keys, link keys
// and satellite hashdiffs, all UUID v5 in one namespace. Go's uuid.NewSHA1
// and PostgreSQL's uuid_generate_v5 agree, so keys computed here match keys
// computed in SQL by other implementations of this warehouse.
package vault

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Namespace is the UUID v5 namespace of every key.
var Namespace = uuid.MustParse("7f288a2e-0ad0-4039-8e59-6c9838d87307")

// LoadSrc is the load_src of every row this pipeline writes.
const LoadSrc = "orders-system-kafka"

// Hub is the hub key of a business key (a source id or a category name).
func Hub(businessKey string) uuid.UUID { return uuid.NewSHA1(Namespace, []byte(businessKey)) }

// OrderHub is the hub key of an order id (its decimal text).
func OrderHub(orderID int64) uuid.UUID { return Hub(strconv.FormatInt(orderID, 10)) }

// Link is the key of a link between two hubs, given in the order of the
// table's name (l_order_product: order, then product).
func Link(a, b uuid.UUID) uuid.UUID { return Hub(a.String() + b.String()) }

// HashDiff is a satellite's hashdiff: the hub key's string and each attribute
// joined with "|". Format attributes with Num, Time and Opt.
func HashDiff(hub uuid.UUID, attrs ...string) uuid.UUID {
	return Hub(hub.String() + "|" + strings.Join(attrs, "|"))
}

// Num formats a number in its shortest decimal form (300, 300.5).
func Num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Time formats a timestamp as YYYY-MM-DD HH:MM:SS.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// Opt formats a nullable string: null is empty.
func Opt(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
