package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/vault"
)

// The safety net (CONTRACT §9): when a step fails for good with an error that
// records can cause, the workflow splits the batch into parts, each under
// its own batch id (<batch id>/<n>) and load_dt, and moves every part
// through the steps again; a part of one record that still fails is that
// record: it is stored as poison and taken back out of the layers it had
// reached. These activities are the I/O of that search.

// SplitInput names a part of a batch: rows From to To (0-based, To
// excluded) of the parent's records in partition and offset order.
type SplitInput struct {
	Parent BatchRef `json:"parent"`
	Part   BatchRef `json:"part"`
	From   int      `json:"from"`
	To     int      `json:"to"`
}

// SplitBatch copies a part of a batch's records under the part's batch id.
func (a *Activities) SplitBatch(ctx context.Context, in SplitInput) (int, error) {
	tag, err := a.DB.Stg.Exec(ctx, db.Query("stg_split_batch"), in.Parent.BatchID, in.Part.BatchID, in.From, in.To)
	if err != nil {
		return 0, classify(fmt.Errorf("split batch: %w", err))
	}
	return int(tag.RowsAffected()), nil
}

// PoisonInput names the part (of one record) that failed for good, the step
// that failed, and its error.
type PoisonInput struct {
	Parent    BatchRef `json:"parent"`
	Part      BatchRef `json:"part"`
	Step      string   `json:"step"`
	ErrorType string   `json:"error_type"`
	Error     string   `json:"error"`
}

// PoisonRecord is the record set aside.
type PoisonRecord struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	ObjectID  *int64 `json:"object_id,omitempty"`
}

// StorePoison stores the part's one record in stg.rejected_messages with
// reason poison and the error as detail, and deletes its STG row when STG
// holds exactly its version.
func (a *Activities) StorePoison(ctx context.Context, in PoisonInput) (PoisonRecord, error) {
	var rec PoisonRecord
	msgs, err := a.batchMessages(ctx, in.Part.BatchID)
	if err != nil {
		return rec, classify(err)
	}
	if len(msgs) != 1 {
		return rec, permanent(ErrTypeCorruptBatch, fmt.Errorf("poison part %s holds %d records, want 1", in.Part.BatchID, len(msgs)))
	}
	m := msgs[0]
	rec.Partition, rec.Offset = m.partition, m.offset
	ev, _ := order.Decode(m.value, m.ts)
	if ev.ObjectID > 0 {
		rec.ObjectID = &ev.ObjectID
	}
	detail := fmt.Sprintf("%s failed for good (%s): %s", in.Step, in.ErrorType, in.Error)
	rej := rejectedFrom(m, &order.Rejection{Reason: order.ReasonPoison, Detail: clipDetail(detail)}, rec.ObjectID)
	err = pgx.BeginFunc(ctx, a.DB.Stg, func(tx pgx.Tx) error {
		if err := a.insertRejected(ctx, tx, in.Parent.BatchID, []rejectedRow{rej}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, db.Query("stg_retract_poison"), in.Part.BatchID); err != nil {
			return fmt.Errorf("retract poison from stg.order_events: %w", err)
		}
		return nil
	})
	if err != nil {
		return rec, classify(err)
	}
	a.Log.Warn("poison record set aside", "batch_id", in.Parent.BatchID, "partition", rec.Partition,
		"offset", rec.Offset, "step", in.Step, "error_type", in.ErrorType)
	return rec, nil
}

// clipDetail keeps a detail readable and storable (no NUL, at most 2,000 bytes).
func clipDetail(s string) string {
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return strings.ReplaceAll(string([]rune(s)), "\x00", `\u0000`) // invalid UTF-8 becomes U+FFFD
}

// RetractInput names the poison part and the window of load_dt values that
// its batch and the batch's parts used.
type RetractInput struct {
	Part     BatchRef  `json:"part"`
	LoadFrom time.Time `json:"load_from"`
	LoadTo   time.Time `json:"load_to"`
}

// RetractResult says what the retraction changed.
type RetractResult struct {
	Retracted int64              `json:"retracted"`
	Counters  EmitCountersResult `json:"counters"`
}

// RetractPoison takes the poison record's order version back out of the
// vault's order satellites (rows the batch and its parts wrote), then folds
// the order into the counters again, so they count what the vault without
// it implies, and publishes the users whose counters moved.
func (a *Activities) RetractPoison(ctx context.Context, in RetractInput) (RetractResult, error) {
	var res RetractResult
	rows, err := a.DB.Dds.Query(ctx, db.Query("stg_batch_enriched"), in.Part.BatchID)
	if err != nil {
		return res, classify(fmt.Errorf("read stg.batch_orders: %w", err))
	}
	type row struct {
		id       int64
		updateTS time.Time
		body     []byte
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (x row, err error) {
		err = r.Scan(&x.id, &x.updateTS, &x.body)
		return x, err
	})
	if err != nil {
		return res, classify(fmt.Errorf("read stg.batch_orders: %w", err))
	}
	if len(found) == 0 {
		return res, nil // it failed before it was enriched: nothing of it was loaded
	}
	v := newVaultRows()
	var users []uuid.UUID
	for _, r := range found {
		var e order.Enriched
		if err := json.Unmarshal(r.body, &e); err != nil {
			return res, permanent(ErrTypeCorruptBatch, fmt.Errorf("stg.batch_orders order %d: %w", r.id, err))
		}
		if err := v.add(e, r.updateTS); err != nil {
			return res, permanent(ErrTypeCorruptBatch, err)
		}
		users = append(users, vault.Hub(e.Payload.User.ID))
	}
	for i, pk := range v.orders.pk {
		tag, err := a.DB.Dds.Exec(ctx, db.Query("dds_retract_poison"), pk, in.LoadFrom, in.LoadTo, v.orderStatus.hashDiff[i], v.orderCost.hashDiff[i], v.orderOwner.hashDiff[i])
		if err != nil {
			return res, classify(fmt.Errorf("retract poison from the vault: %w", err))
		}
		res.Retracted += tag.RowsAffected()
	}
	res.Counters, err = a.foldAndEmit(ctx, v.orders.pk, users)
	return res, classify(err)
}
