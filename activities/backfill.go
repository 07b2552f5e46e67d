package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/kafkaio"
)

// FetchSliceInput asks for the next chunk (at most Limit records) of a
// backfill run's time slice [From, To) on the shard's partitions. Next and
// End are nil on the first chunk (FetchSlice finds them by timestamp) and
// carried over from the previous chunk's result afterwards.
type FetchSliceInput struct {
	Batch BatchRef        `json:"batch"`
	From  time.Time       `json:"from"`
	To    time.Time       `json:"to"`
	Next  map[int32]int64 `json:"next,omitempty"`
	End   map[int32]int64 `json:"end,omitempty"`
	Limit int             `json:"limit"`
}

// FetchSliceResult tells which offsets the chunk holds, where the next
// chunk starts and ends, and how many records of the slice remain after it.
type FetchSliceResult struct {
	Ranges    []kafkaio.Range `json:"ranges"`
	Records   int             `json:"records"`
	Next      map[int32]int64 `json:"next"`
	End       map[int32]int64 `json:"end"`
	Remaining int64           `json:"remaining"`
}

// FetchSlice reads the next chunk of a backfill slice by offset (found by
// timestamp) and lands it in stg.batch_messages under the batch id, as
// FetchBatch does. It never reads or commits the consumer group's offsets
// and records no row in stg.batches. A retry replaces what an earlier
// attempt landed.
func (a *Activities) FetchSlice(ctx context.Context, in FetchSliceInput) (FetchSliceResult, error) {
	defer heartbeat(ctx)()
	var res FetchSliceResult
	topic := a.Settings.Kafka.InputTopic
	pos := kafkaio.Positions{Next: maps.Clone(in.Next), End: maps.Clone(in.End)}
	if in.End == nil {
		parts, err := kafkaio.Owned(ctx, a.Admin, topic, in.Batch.Shard, in.Batch.Shards)
		if err != nil {
			return res, classify(err)
		}
		if pos, err = kafkaio.SliceBounds(ctx, a.Admin, topic, parts, in.From, in.To); err != nil {
			return res, classify(err)
		}
	}
	limit := max(in.Limit, 1)
	recs, ranges, err := kafkaio.ReadRange(ctx, a.Settings.Kafka, a.Log, topic, pos, limit, a.Settings.FetchWait)
	if err != nil {
		return res, classify(err)
	}
	res.Ranges, res.Records, res.End = ranges, len(recs), pos.End
	res.Next = maps.Clone(pos.Next)
	for _, r := range ranges {
		res.Next[r.Partition] = r.To
	}
	res.Remaining = kafkaio.Positions{Next: res.Next, End: res.End}.Lag()
	if len(recs) == 0 {
		if res.Remaining > 0 {
			return res, classify(fmt.Errorf("backfill slice [%s, %s): %d records wait but none could be read within %s",
				in.From.Format(time.RFC3339), in.To.Format(time.RFC3339), res.Remaining, a.Settings.FetchWait))
		}
		return res, nil
	}
	if err := a.landMessages(ctx, in.Batch.BatchID, recs); err != nil {
		return res, classify(err)
	}
	return res, nil
}

// landMessages replaces the batch's rows in stg.batch_messages with recs.
func (a *Activities) landMessages(ctx context.Context, batchID string, recs []*kgo.Record) error {
	return pgx.BeginFunc(ctx, a.DB.Stg, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM stg.batch_messages WHERE batch_id = $1`, batchID); err != nil {
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
				return []any{batchID, r.Partition, r.Offset, r.Timestamp.UTC(), value}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy stg.batch_messages: %w", err)
		}
		return nil
	})
}

// FinishSlice deletes a backfill chunk's working rows (stg.batch_messages,
// stg.batch_orders, its parts' too). Unlike CommitOffsets it commits no
// offset and leaves stg.batches alone: a backfill is not the pipeline's
// progress, and the stall alarms must not take it for a commit.
func (a *Activities) FinishSlice(ctx context.Context, in BatchInput) error {
	if in.Batch.BatchID == "" {
		return classify(errors.New(FinishSliceName + ": no batch id"))
	}
	if _, err := a.DB.Stg.Exec(ctx, db.Query("stg_finish_slice"), in.Batch.BatchID); err != nil {
		return classify(fmt.Errorf("finish backfill slice: %w", err))
	}
	return nil
}
