package activities

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/refdata"
	"github.com/orderflow/orderflow/vault"
)

// candidate is a decoded, enriched message competing to be the batch's current version of its order.
type candidate struct {
	ev       order.Event
	enriched order.Enriched
	msg      batchMessage
	fits     bool // its enriched message fits the output topic
	size     int  // the enriched message's size, when it does not fit
}

// later reports whether c is a newer version than d: greater update_ts, then
// the later record (timestamp, partition, offset).
func (c candidate) later(d candidate) bool {
	if !c.ev.UpdateTS.Equal(d.ev.UpdateTS) {
		return c.ev.UpdateTS.After(d.ev.UpdateTS)
	}
	if !c.msg.ts.Equal(d.msg.ts) {
		return c.msg.ts.After(d.msg.ts)
	}
	if c.msg.partition != d.msg.partition {
		return c.msg.partition > d.msg.partition
	}
	return c.msg.offset > d.msg.offset
}

type rejectedRow struct {
	partition int32
	offset    int64
	recordTS  time.Time
	raw       []byte
	reason    order.Reason
	detail    string
	objectID  *int64
}

// warnBrokenUsers logs the batch's users whose Redis value is not valid
// reference JSON: their orders load with a null name (CONTRACT §3, unknown user),
// and an operator must hear why.
func (a *Activities) warnBrokenUsers(batchID string, users []string, snap refdata.Snapshot, res *EnrichResult) {
	var broken []string
	for _, u := range users {
		if why, ok := snap.Broken[u]; ok {
			if len(broken) < 5 {
				broken = append(broken, u+" ("+why+")")
			}
			res.BrokenUsers++
		}
	}
	if res.BrokenUsers > 0 {
		a.Log.Warn("users whose Redis reference data is not valid JSON load as unknown users",
			"batch_id", batchID, "users", res.BrokenUsers, "first", strings.Join(broken, "; "))
	}
}

// batchMessage is one raw record of a batch.
type batchMessage struct {
	partition int32
	offset    int64
	ts        time.Time
	value     []byte
}

func (a *Activities) batchMessages(ctx context.Context, batchID string) ([]batchMessage, error) {
	rows, err := a.DB.Stg.Query(ctx, db.Query("stg_batch_messages"), batchID)
	if err != nil {
		return nil, fmt.Errorf("read stg.batch_messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m batchMessage, err error) {
		err = r.Scan(&m.partition, &m.offset, &m.ts, &m.value)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read stg.batch_messages: %w", err)
	}
	return msgs, nil
}

// decodedEvent is a valid event with the record it came from.
type decodedEvent struct {
	ev  order.Event
	msg batchMessage
}

// decodeAll decodes and validates every record on every CPU.
func decodeAll(msgs []batchMessage) ([]decodedEvent, []rejectedRow) {
	type decoded struct {
		ev  order.Event
		rej *order.Rejection
	}
	dec := make([]decoded, len(msgs))
	parallel(len(msgs), func(i int) {
		dec[i].ev, dec[i].rej = order.Decode(msgs[i].value, msgs[i].ts)
	})
	var rejected []rejectedRow
	events := make([]decodedEvent, 0, len(msgs))
	for i, m := range msgs {
		if rej := dec[i].rej; rej != nil {
			var oid *int64
			if id := dec[i].ev.ObjectID; id > 0 {
				oid = &id
			}
			rejected = append(rejected, rejectedFrom(m, rej, oid))
			continue
		}
		events = append(events, decodedEvent{dec[i].ev, m})
	}
	return events, rejected
}

func rejectedFrom(m batchMessage, rej *order.Rejection, objectID *int64) rejectedRow {
	return rejectedRow{m.partition, m.offset, m.ts, m.value, rej.Reason, rej.Detail, objectID}
}

// refKeys lists the events' users and restaurants, sorted and distinct.
func refKeys(events []decodedEvent) (users, restaurants []string) {
	userSet, restSet := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		userSet[e.ev.UserID] = true
		restSet[e.ev.RestaurantID] = true
	}
	return slices.Sorted(maps.Keys(userSet)), slices.Sorted(maps.Keys(restSet))
}

// currentVersions enriches the events and keeps each order's current
// version (greatest update_ts, then the later record), in object_id order.
func currentVersions(events []decodedEvent, snap refdata.Snapshot) ([]candidate, []rejectedRow) {
	var rejected []rejectedRow
	current := map[int64]candidate{}
	for _, e := range events {
		en, rej := order.Enrich(e.ev, snap)
		if rej != nil {
			oid := e.ev.ObjectID
			rejected = append(rejected, rejectedFrom(e.msg, rej, &oid))
			continue
		}
		c := candidate{ev: e.ev, enriched: en, msg: e.msg}
		if prev, ok := current[e.ev.ObjectID]; !ok || c.later(prev) {
			current[e.ev.ObjectID] = c
		}
	}
	ids := slices.Sorted(maps.Keys(current))
	cands := make([]candidate, len(ids))
	for i, id := range ids {
		cands[i] = current[id]
	}
	return cands, rejected
}

// orderRows builds the stg.batch_orders rows (keys and enriched JSON, on
// every CPU). An order whose enriched message the output topic would refuse
// (maxBytes) is rejected as output_too_large instead: nothing of it is stored
// or produced.
func orderRows(batchID string, cands []candidate, maxBytes int) ([][]any, []rejectedRow) {
	all := make([][]any, len(cands))
	parallel(len(cands), func(i int) {
		c := &cands[i]
		body := c.enriched.JSON()
		c.fits = kafkaio.Fits([]byte(strconv.FormatInt(c.ev.ObjectID, 10)), body, maxBytes)
		if !c.fits {
			c.size = len(body)
			return
		}
		all[i] = []any{batchID, c.ev.ObjectID, vault.OrderHub(c.ev.ObjectID), vault.Hub(c.ev.UserID),
			c.msg.partition, c.msg.offset, c.ev.SentDttm, c.ev.UpdateTS, string(c.ev.Payload), string(body)}
	})
	rows := all[:0]
	var rejected []rejectedRow
	for i, c := range cands {
		if c.fits {
			rows = append(rows, all[i])
			continue
		}
		oid := c.ev.ObjectID
		rejected = append(rejected, rejectedFrom(c.msg, &order.Rejection{
			Reason: order.ReasonOutputTooLarge,
			Detail: fmt.Sprintf("enriched message of order %d is %d bytes; the output topic accepts %d (max.message.bytes, less %d bytes of record overhead)",
				oid, c.size, maxBytes, kafkaio.RecordOverhead),
		}, &oid))
	}
	return rows, rejected
}

// enrichOrders enriches the events, keeps each order's current version and
// builds its stg.batch_orders row; it returns the rows, the orders rejected
// on the way and how many kept orders have an unknown user.
func enrichOrders(batchID string, events []decodedEvent, snap refdata.Snapshot, maxBytes int) (rows [][]any, rejected []rejectedRow, unknownUsers int) {
	cands, rejected := currentVersions(events, snap)
	rows, tooLarge := orderRows(batchID, cands, maxBytes)
	for _, c := range cands {
		if c.enriched.Payload.User.Name == nil && c.fits {
			unknownUsers++
		}
	}
	return rows, append(rejected, tooLarge...), unknownUsers
}
