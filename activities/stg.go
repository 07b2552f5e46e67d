package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/observe"
	"github.com/orderflow/orderflow/refdata"
)

// FetchBatch reads at most Limit records (DrainLimit when more than Limit
// wait) of the shard's input partitions from the group's committed offsets
// and lands them in stg.batch_messages. A retry replaces what an earlier
// attempt landed.
func (a *Activities) FetchBatch(ctx context.Context, in FetchBatchInput) (FetchBatchResult, error) {
	defer heartbeat(ctx)()
	var res FetchBatchResult
	topic := a.Settings.Kafka.InputTopic
	parts, err := kafkaio.Owned(ctx, a.Admin, topic, in.Batch.Shard, in.Batch.Shards)
	if err != nil {
		return res, classify(err)
	}
	pos, err := kafkaio.Position(ctx, a.Admin, a.Settings.Kafka.Group, topic, parts)
	if err != nil {
		return res, classify(err)
	}
	res.Limit = in.Limit
	if in.DrainLimit > in.Limit && pos.Lag() > int64(in.Limit) {
		res.Limit = in.DrainLimit // a backlog: take a drain-sized batch at once
	}
	recs, ranges, err := kafkaio.ReadRange(ctx, a.Settings.Kafka, a.Log, topic, pos, res.Limit, a.Settings.FetchWait)
	if err != nil {
		return res, classify(err)
	}
	res.Ranges, res.Records = ranges, len(recs)
	res.Backlog = pos.Lag() - int64(len(recs))
	if len(recs) == 0 {
		return res, nil // an idle run leaves no trace in stg.batches
	}
	if err := a.landBatch(ctx, in.Batch, ranges, recs, res.Backlog); err != nil {
		return res, classify(err)
	}
	return res, nil
}

// landBatch records the batch in stg.batches and replaces its records in
// stg.batch_messages, in one transaction.
func (a *Activities) landBatch(ctx context.Context, b BatchRef, ranges []kafkaio.Range, recs []*kgo.Record, backlog int64) error {
	rangesJSON, _ := json.Marshal(ranges)
	return pgx.BeginFunc(ctx, a.DB.Stg, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, db.Query("stg_begin_batch"), b.BatchID, b.Shard, b.Shards, b.LoadDT, rangesJSON, len(recs), backlog); err != nil {
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
}

// EnrichViaRedis decodes and validates the batch's records, looks up their
// users and restaurants with one MGET, keeps each order's current version in
// stg.batch_orders and stores the rest in stg.rejected_messages: invalid
// ones, and those whose enriched message the output topic would refuse.
func (a *Activities) EnrichViaRedis(ctx context.Context, in BatchInput) (EnrichResult, error) {
	defer heartbeat(ctx)()
	res := EnrichResult{ByReason: map[string]int{}}
	batchID := in.Batch.BatchID
	msgs, maxBytes, err := a.enrichInputs(ctx, batchID)
	if err != nil {
		return res, err
	}
	events, rejected := decodeAll(msgs)
	snap, err := a.lookupRefs(ctx, batchID, events, &res)
	if err != nil {
		return res, classify(err)
	}
	rows, moreRejected, unknownUsers := enrichOrders(batchID, events, snap, maxBytes)
	rejected = append(rejected, moreRejected...)
	res.UnknownUsers = unknownUsers
	for _, r := range rejected {
		res.ByReason[string(r.reason)]++
	}
	res.Orders, res.Rejected = len(rows), len(rejected)
	if err := a.storeEnriched(ctx, batchID, rows, rejected, res); err != nil {
		return res, classify(err)
	}
	for r, n := range res.ByReason {
		observe.AddRejected(r, n)
	}
	return res, nil
}

// enrichInputs reads the batch's records and the output topic's message
// size limit. Its errors are classified.
func (a *Activities) enrichInputs(ctx context.Context, batchID string) ([]batchMessage, int, error) {
	msgs, err := a.batchMessages(ctx, batchID)
	if err != nil {
		return nil, 0, classify(err)
	}
	if err := a.runHook(ctx, a.DB.Stg, EnrichViaRedisName, batchID); err != nil {
		return nil, 0, err
	}
	maxBytes, err := a.Limits.MaxMessageBytes(ctx, a.Settings.Kafka.StgTopic)
	if err != nil {
		return nil, 0, classify(err)
	}
	return msgs, maxBytes, nil
}

// lookupRefs looks up the events' users and restaurants in one pipelined
// Redis round trip and warns about users whose reference data is broken.
func (a *Activities) lookupRefs(ctx context.Context, batchID string, events []decodedEvent, res *EnrichResult) (refdata.Snapshot, error) {
	users, restaurants := refKeys(events)
	snap, err := a.Refs.Lookup(ctx, users, restaurants)
	if err != nil {
		return snap, err
	}
	a.warnBrokenUsers(batchID, users, snap, res)
	return snap, nil
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
	if _, err := tx.Exec(ctx, db.Query("stg_insert_rejected"), a.Settings.Kafka.InputTopic, batchID,
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
	if err := a.runHook(ctx, a.DB.Stg, LoadStgName, in.Batch.BatchID); err != nil {
		return res, err
	}
	// The producer caps a topic's batches by its limit once it has read it.
	if _, err := a.Limits.MaxMessageBytes(ctx, a.Settings.Kafka.StgTopic); err != nil {
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
		recs = append(recs, &kgo.Record{Topic: a.Settings.Kafka.StgTopic, Key: []byte(fmt.Sprint(id)), Value: []byte(body)})
	}
	if err := rows.Err(); err != nil {
		return res, classify(err)
	}
	if err := a.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return res, classify(fmt.Errorf("produce %s: %w", a.Settings.Kafka.StgTopic, err))
	}
	res.Produced = len(recs)
	observe.AddRows("stg.order_events", res.Upserted)
	return res, nil
}

// CommitOffsets commits the batch's offsets to the group, then marks the
// batch done and deletes its working rows. Committing twice is harmless.
func (a *Activities) CommitOffsets(ctx context.Context, in CommitInput) error {
	if err := kafkaio.Commit(ctx, a.Admin, a.Settings.Kafka.Group, a.Settings.Kafka.InputTopic, in.Ranges); err != nil {
		return classify(err)
	}
	if _, err := a.DB.Stg.Exec(ctx, db.Query("stg_finish_batch"), in.Batch.BatchID, workingIDs(in.Batch.BatchID, in.Parts)); err != nil {
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
