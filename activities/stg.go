package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/refdata"
	"github.com/orderflow/orderflow/vault"
)

// FetchBatch reads at most Limit records (DrainLimit when more than Limit
// wait) of the shard's input partitions from the group's committed offsets
// and lands them in stg.batch_messages. A retry replaces what an earlier
// attempt landed.
func (a *Activities) FetchBatch(ctx context.Context, in FetchBatchInput) (FetchBatchResult, error) {
	defer heartbeat(ctx)()
	var res FetchBatchResult
	topic := a.Cfg.Kafka.InputTopic
	parts, err := kafkaio.Owned(ctx, a.Admin, topic, in.Batch.Shard, in.Batch.Shards)
	if err != nil {
		return res, classify(err)
	}
	pos, err := kafkaio.Position(ctx, a.Admin, a.Cfg.Kafka.Group, topic, parts)
	if err != nil {
		return res, classify(err)
	}
	res.Limit = in.Limit
	if in.DrainLimit > in.Limit && pos.Lag() > int64(in.Limit) {
		res.Limit = in.DrainLimit // a backlog: take a drain-sized batch at once
	}
	recs, ranges, err := kafkaio.ReadRange(ctx, a.Cfg.Kafka, a.Log, topic, pos, res.Limit, a.Cfg.Pipeline.FetchWait)
	if err != nil {
		return res, classify(err)
	}
	res.Ranges, res.Records = ranges, len(recs)
	res.Backlog = pos.Lag() - int64(len(recs))
	if len(recs) == 0 {
		return res, nil // an idle run leaves no trace in stg.batches
	}
	rangesJSON, _ := json.Marshal(ranges)
	b := in.Batch
	err = pgx.BeginFunc(ctx, a.DB.Stg, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, db.Query("stg_begin_batch"), b.BatchID, b.Shard, b.Shards, b.LoadDT, rangesJSON, len(recs), res.Backlog); err != nil {
			return fmt.Errorf("record batch: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM stg.batch_messages WHERE batch_id = $1`, b.BatchID); err != nil {
			return fmt.Errorf("clear stg.batch_messages: %w", err)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"stg", "batch_messages"},
			[]string{"batch_id", "partition", "offset", "record_ts", "value"},
			pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
				r := recs[i]
				value := r.Value
				if value == nil {
					value = []byte{} // a tombstone: stored empty, rejected as empty_record
				}
				return []any{b.BatchID, r.Partition, r.Offset, r.Timestamp.UTC(), value}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy stg.batch_messages: %w", err)
		}
		return nil
	})
	if err != nil {
		return res, classify(err)
	}
	return res, nil
}

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

// EnrichViaRedis decodes and validates the batch's records, looks up their
// users and restaurants with one MGET, keeps each order's current version in
// stg.batch_orders and stores the rest in stg.rejected_messages: invalid
// ones, and those whose enriched message the output topic would refuse.
func (a *Activities) EnrichViaRedis(ctx context.Context, in BatchInput) (_ EnrichResult, err error) {
	defer heartbeat(ctx)()
	res := EnrichResult{ByReason: map[string]int{}}
	b := in.Batch
	msgs, err := a.batchMessages(ctx, b.BatchID)
	if err != nil {
		return res, classify(err)
	}
	if err := a.injectedPoison(ctx, a.DB.Stg, "EnrichViaRedis", b.BatchID); err != nil {
		return res, err
	}
	maxBytes, err := a.Limits.MaxMessageBytes(ctx, a.Cfg.Kafka.StgTopic)
	if err != nil {
		return res, classify(err)
	}
	events, rejected := decodeAll(msgs)
	users, restaurants := refKeys(events)
	snap, err := a.Refs.Lookup(ctx, users, restaurants)
	if err != nil {
		return res, classify(err)
	}
	a.warnBrokenUsers(b.BatchID, users, snap, &res)
	cands, moreRejected := currentVersions(events, snap)
	rejected = append(rejected, moreRejected...)
	rows, tooLarge := orderRows(b.BatchID, cands, maxBytes)
	rejected = append(rejected, tooLarge...)
	for _, c := range cands {
		if c.enriched.Payload.User.Name == nil && c.fits {
			res.UnknownUsers++
		}
	}
	for _, r := range rejected {
		res.ByReason[string(r.reason)]++
	}
	res.Orders, res.Rejected = len(rows), len(rejected)
	if err := a.storeEnriched(ctx, b.BatchID, rows, rejected, res); err != nil {
		return res, classify(err)
	}
	for r, n := range res.ByReason {
		observe.AddRejected(r, n)
	}
	return res, nil
}

// warnBrokenUsers logs the batch's users whose Redis value is not valid
// reference JSON: their orders load with a null name (SPEC 3, unknown user),
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

// storeEnriched replaces the batch's stg.batch_orders rows, stores its
// rejected messages and records the counts, in one transaction.
func (a *Activities) storeEnriched(ctx context.Context, batchID string, rows [][]any, rejected []rejectedRow, res EnrichResult) error {
	return pgx.BeginFunc(ctx, a.DB.Stg, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM stg.batch_orders WHERE batch_id = $1`, batchID); err != nil {
			return fmt.Errorf("clear stg.batch_orders: %w", err)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"stg", "batch_orders"},
			[]string{"batch_id", "object_id", "h_order_pk", "h_user_pk", "partition", "offset", "sent_dttm", "update_ts", "payload", "enriched"},
			pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("copy stg.batch_orders: %w", err)
		}
		if err := a.insertRejected(ctx, tx, batchID, rejected); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, db.Query("stg_set_enriched"), batchID, res.Orders, res.Rejected)
		return err
	})
}

// insertRejected stores rejected messages in stg.rejected_messages (a
// message rejected before keeps its first row).
func (a *Activities) insertRejected(ctx context.Context, tx pgx.Tx, batchID string, rejected []rejectedRow) error {
	if len(rejected) == 0 {
		return nil
	}
	n := len(rejected)
	parts, offs, tss, raws := make([]int32, n), make([]int64, n), make([]time.Time, n), make([][]byte, n)
	reasons, details, oids := make([]string, n), make([]string, n), make([]*int64, n)
	for i, r := range rejected {
		parts[i], offs[i], tss[i], raws[i] = r.partition, r.offset, r.recordTS, r.raw
		reasons[i], details[i], oids[i] = string(r.reason), r.detail, r.objectID
	}
	if _, err := tx.Exec(ctx, db.Query("stg_insert_rejected"), a.Cfg.Kafka.InputTopic, batchID,
		parts, offs, tss, raws, reasons, details, oids); err != nil {
		return fmt.Errorf("insert stg.rejected_messages: %w", err)
	}
	return nil
}

// LoadStg upserts the batch's orders into stg.order_events and publishes one
// enriched message per order to stg-service-orders.
func (a *Activities) LoadStg(ctx context.Context, in BatchInput) (LoadStgResult, error) {
	defer heartbeat(ctx)()
	var res LoadStgResult
	if err := a.injectedPoison(ctx, a.DB.Stg, "LoadStg", in.Batch.BatchID); err != nil {
		return res, err
	}
	// The producer caps a topic's batches by its limit once it has read it.
	if _, err := a.Limits.MaxMessageBytes(ctx, a.Cfg.Kafka.StgTopic); err != nil {
		return res, classify(err)
	}
	tag, err := a.DB.Stg.Exec(ctx, db.Query("stg_upsert_order_events"), in.Batch.BatchID)
	if err != nil {
		return res, classify(fmt.Errorf("upsert stg.order_events: %w", err))
	}
	res.Upserted = tag.RowsAffected()
	rows, err := a.DB.Stg.Query(ctx, db.Query("stg_batch_enriched"), in.Batch.BatchID)
	if err != nil {
		return res, classify(fmt.Errorf("read stg.batch_orders: %w", err))
	}
	var recs []*kgo.Record
	for rows.Next() {
		var id int64
		var ts time.Time
		var body string
		if err := rows.Scan(&id, &ts, &body); err != nil {
			rows.Close()
			return res, classify(err)
		}
		recs = append(recs, &kgo.Record{Topic: a.Cfg.Kafka.StgTopic, Key: []byte(fmt.Sprint(id)), Value: []byte(body)})
	}
	if err := rows.Err(); err != nil {
		return res, classify(err)
	}
	if err := a.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return res, classify(fmt.Errorf("produce %s: %w", a.Cfg.Kafka.StgTopic, err))
	}
	res.Produced = len(recs)
	observe.AddRows("stg.order_events", res.Upserted)
	return res, nil
}

// CommitOffsets commits the batch's offsets to the group, then marks the
// batch done and deletes its working rows. Committing twice is harmless.
func (a *Activities) CommitOffsets(ctx context.Context, in CommitInput) error {
	if err := kafkaio.Commit(ctx, a.Admin, a.Cfg.Kafka.Group, a.Cfg.Kafka.InputTopic, in.Ranges); err != nil {
		return classify(err)
	}
	if _, err := a.DB.Stg.Exec(ctx, db.Query("stg_finish_batch"), in.Batch.BatchID); err != nil {
		return classify(fmt.Errorf("finish batch: %w", err))
	}
	if _, err := a.DB.Stg.Exec(ctx, db.Query("stg_sweep")); err != nil {
		return classify(fmt.Errorf("sweep old batches: %w", err))
	}
	records := 0
	for _, r := range in.Ranges {
		records += int(r.To - r.From)
	}
	observe.BatchCommitted(in.Batch.Shard, records)
	return nil
}
