// Package rejects re-processes rejected messages once their cause is fixed.
package rejects

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/refdata"
)

// Report says what a reprocess run did.
type Report struct {
	Checked   int // open rejected messages of the reason
	Requeued  int // now loadable: produced to the input topic again and marked resolved
	StillOpen int // still failing, left open
}

// HeaderOrigin names the record a re-queued message came from (topic/partition/offset).
const HeaderOrigin = "orderflow-reprocessed-from"

// Reprocess checks every open rejected message of reason against the current
// reference data. Those that now load are produced to the input topic again
// (with their original record timestamp) and marked resolved; the pipeline
// then loads them like any other message. The rest stay open.
func Reprocess(ctx context.Context, pool *pgxpool.Pool, refs *refdata.Store, cl *kgo.Client, topic string, reason order.Reason) (Report, error) {
	var rep Report
	if !reason.Fixable() {
		return rep, fmt.Errorf("reason %s cannot be fixed by reprocessing: the message bytes themselves are bad", reason)
	}
	rows, err := pool.Query(ctx, `SELECT id, topic, "partition", "offset", coalesce(record_ts, rejected_at::timestamp), raw
		FROM stg.rejected_messages WHERE reason = $1 AND resolved_at IS NULL ORDER BY id`, string(reason))
	if err != nil {
		return rep, fmt.Errorf("read stg.rejected_messages: %w", err)
	}
	type rejected struct {
		id     int64
		origin string
		ts     time.Time
		raw    []byte
		ev     order.Event
	}
	var all []rejected
	users, rests := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var r rejected
		var t string
		var p int32
		var o int64
		if err := rows.Scan(&r.id, &t, &p, &o, &r.ts, &r.raw); err != nil {
			rows.Close()
			return rep, err
		}
		r.origin = fmt.Sprintf("%s/%d/%d", t, p, o)
		ev, rej := order.Decode(r.raw, r.ts)
		if rej == nil {
			r.ev = ev
			users[ev.UserID], rests[ev.RestaurantID] = true, true
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return rep, err
	}
	rep.Checked = len(all)
	snap, err := refs.Lookup(ctx, slices.Collect(maps.Keys(users)), slices.Collect(maps.Keys(rests)))
	if err != nil {
		return rep, err
	}
	var ids []int64
	var recs []*kgo.Record
	for _, r := range all {
		if r.ev.ObjectID == 0 {
			rep.StillOpen++
			continue
		}
		if _, rej := order.Enrich(r.ev, snap); rej != nil {
			rep.StillOpen++
			continue
		}
		ids = append(ids, r.id)
		recs = append(recs, &kgo.Record{Topic: topic, Value: r.raw, Timestamp: r.ts,
			Headers: []kgo.RecordHeader{{Key: HeaderOrigin, Value: []byte(r.origin)}}})
	}
	if len(recs) == 0 {
		return rep, nil
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return rep, fmt.Errorf("produce to %s: %w", topic, err)
	}
	_, err = pool.Exec(ctx, `UPDATE stg.rejected_messages SET resolved_at = now(),
		resolution = 'requeued to ' || $2 || ' after the reference data was fixed' WHERE id = ANY($1)`, ids, topic)
	if err != nil {
		return rep, fmt.Errorf("mark resolved: %w", err)
	}
	rep.Requeued = len(ids)
	return rep, nil
}
