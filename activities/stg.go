package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/order"
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
				return []any{b.BatchID, r.Partition, r.Offset, r.Timestamp.UTC(), r.Value}, nil
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
	ev        order.Event
	enriched  order.Enriched
	partition int32
	offset    int64
	recordTS  time.Time
}

// later reports whether c is a newer version than d: greater update_ts, then
// the later record (timestamp, partition, offset).
func (c candidate) later(d candidate) bool {
	if !c.ev.UpdateTS.Equal(d.ev.UpdateTS) {
		return c.ev.UpdateTS.After(d.ev.UpdateTS)
	}
	if !c.recordTS.Equal(d.recordTS) {
		return c.recordTS.After(d.recordTS)
	}
	if c.partition != d.partition {
		return c.partition > d.partition
	}
	return c.offset > d.offset
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
// stg.batch_orders and stores the rest in stg.rejected_messages.
func (a *Activities) EnrichViaRedis(ctx context.Context, in BatchInput) (_ EnrichResult, err error) {
	defer heartbeat(ctx)()
	res := EnrichResult{ByReason: map[string]int{}}
	b := in.Batch
	rows, err := a.DB.Stg.Query(ctx, db.Query("stg_batch_messages"), b.BatchID)
	if err != nil {
		return res, classify(fmt.Errorf("read stg.batch_messages: %w", err))
	}
	type msg struct {
		partition int32
		offset    int64
		ts        time.Time
		value     []byte
	}
	var msgs []msg
	for rows.Next() {
		var m msg
		if err := rows.Scan(&m.partition, &m.offset, &m.ts, &m.value); err != nil {
			rows.Close()
			return res, classify(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return res, classify(fmt.Errorf("read stg.batch_messages: %w", err))
	}

	type decoded struct {
		ev  order.Event
		rej *order.Rejection
	}
	dec := make([]decoded, len(msgs))
	parallel(len(msgs), func(i int) {
		dec[i].ev, dec[i].rej = order.Decode(msgs[i].value, msgs[i].ts)
	})
	var rejected []rejectedRow
	events := make([]order.Event, 0, len(msgs))
	idx := make([]int, 0, len(msgs))
	userSet, restSet := map[string]bool{}, map[string]bool{}
	for i, m := range msgs {
		ev, rej := dec[i].ev, dec[i].rej
		if rej != nil {
			var oid *int64
			if ev.ObjectID > 0 {
				oid = &ev.ObjectID
			}
			rejected = append(rejected, rejectedRow{m.partition, m.offset, m.ts, m.value, rej.Reason, rej.Detail, oid})
			continue
		}
		events = append(events, ev)
		idx = append(idx, i)
		userSet[ev.UserID] = true
		restSet[ev.RestaurantID] = true
	}
	snap, err := a.Refs.Lookup(ctx, slices.Sorted(maps.Keys(userSet)), slices.Sorted(maps.Keys(restSet)))
	if err != nil {
		return res, classify(err)
	}
	current := map[int64]candidate{}
	for j, ev := range events {
		m := msgs[idx[j]]
		en, rej := order.Enrich(ev, snap)
		if rej != nil {
			oid := ev.ObjectID
			rejected = append(rejected, rejectedRow{m.partition, m.offset, m.ts, m.value, rej.Reason, rej.Detail, &oid})
			continue
		}
		c := candidate{ev: ev, enriched: en, partition: m.partition, offset: m.offset, recordTS: m.ts}
		if prev, ok := current[ev.ObjectID]; !ok || c.later(prev) {
			current[ev.ObjectID] = c
		}
	}
	ids := make([]int64, 0, len(current))
	for id, c := range current {
		ids = append(ids, id)
		if c.enriched.Payload.User.Name == nil {
			res.UnknownUsers++
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, r := range rejected {
		res.ByReason[string(r.reason)]++
	}
	res.Orders, res.Rejected = len(ids), len(rejected)
	defer func() {
		if err == nil {
			for r, n := range res.ByReason {
				observe.AddRejected(r, n)
			}
		}
	}()

	// The rows' keys and enriched JSON are built on every CPU first.
	cands := make([]candidate, len(ids))
	for i, id := range ids {
		cands[i] = current[id]
	}
	copyRows := make([][]any, len(ids))
	parallel(len(ids), func(i int) {
		c := cands[i]
		copyRows[i] = []any{b.BatchID, c.ev.ObjectID, vault.OrderHub(c.ev.ObjectID), vault.Hub(c.ev.UserID),
			c.partition, c.offset, c.ev.SentDttm, c.ev.UpdateTS, string(c.ev.Payload), string(c.enriched.JSON())}
	})
	err = pgx.BeginFunc(ctx, a.DB.Stg, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM stg.batch_orders WHERE batch_id = $1`, b.BatchID); err != nil {
			return fmt.Errorf("clear stg.batch_orders: %w", err)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"stg", "batch_orders"},
			[]string{"batch_id", "object_id", "h_order_pk", "h_user_pk", "partition", "offset", "sent_dttm", "update_ts", "payload", "enriched"},
			pgx.CopyFromRows(copyRows))
		if err != nil {
			return fmt.Errorf("copy stg.batch_orders: %w", err)
		}
		if len(rejected) > 0 {
			n := len(rejected)
			parts, offs, tss, raws := make([]int32, n), make([]int64, n), make([]time.Time, n), make([][]byte, n)
			reasons, details, oids := make([]string, n), make([]string, n), make([]*int64, n)
			for i, r := range rejected {
				parts[i], offs[i], tss[i], raws[i] = r.partition, r.offset, r.recordTS, r.raw
				reasons[i], details[i], oids[i] = string(r.reason), r.detail, r.objectID
			}
			if _, err := tx.Exec(ctx, db.Query("stg_insert_rejected"), a.Cfg.Kafka.InputTopic, b.BatchID,
				parts, offs, tss, raws, reasons, details, oids); err != nil {
				return fmt.Errorf("insert stg.rejected_messages: %w", err)
			}
		}
		_, err = tx.Exec(ctx, db.Query("stg_set_enriched"), b.BatchID, res.Orders, res.Rejected)
		return err
	})
	if err != nil {
		return res, classify(err)
	}
	return res, nil
}

// LoadStg upserts the batch's orders into stg.order_events and publishes one
// enriched message per order to stg-service-orders.
func (a *Activities) LoadStg(ctx context.Context, in BatchInput) (LoadStgResult, error) {
	defer heartbeat(ctx)()
	var res LoadStgResult
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
