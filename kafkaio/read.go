package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/config"
)

// ReadRange reads at most limit records of topic, starting at pos.Next on
// each partition and stopping at the ends listed in pos. It returns the
// records in partition order and the range each partition covered, one per
// partition of pos (empty where nothing was read, so committing the ranges
// also refreshes idle partitions' offsets). wait bounds how long it keeps
// polling for records it knows exist.
func ReadRange(ctx context.Context, cfg config.Kafka, log *slog.Logger, topic string, pos Positions, limit int, wait time.Duration) ([]*kgo.Record, []Range, error) {
	want := int64(0)
	offsets := map[int32]kgo.Offset{}
	for p, next := range pos.Next {
		if avail := pos.End[p] - next; avail > 0 {
			want += avail
			offsets[p] = kgo.NewOffset().At(next)
		}
	}
	if want > int64(limit) {
		want = int64(limit)
	}
	if want == 0 {
		return nil, emptyRanges(pos), nil
	}
	opts, err := Options(cfg, log,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	byPart := map[int32][]*kgo.Record{}
	got := int64(0)
	done := func() bool {
		if got >= want {
			return true
		}
		for p, next := range pos.Next {
			recs := byPart[p]
			at := next
			if len(recs) > 0 {
				at = recs[len(recs)-1].Offset + 1
			}
			if at < pos.End[p] {
				return false
			}
		}
		return true
	}
	for !done() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return nil, nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if got >= want || r.Offset >= pos.End[r.Partition] {
				return
			}
			byPart[r.Partition] = append(byPart[r.Partition], r)
			got++
		})
	}
	if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
		return nil, nil, parent
	}
	var recs []*kgo.Record
	var ranges []Range
	for _, p := range slices.Sorted(maps.Keys(pos.Next)) {
		rs := byPart[p]
		r := Range{Partition: p, From: pos.Next[p], To: pos.Next[p]}
		if len(rs) > 0 {
			recs = append(recs, rs...)
			r.To = rs[len(rs)-1].Offset + 1
		}
		ranges = append(ranges, r)
	}
	return recs, ranges, nil
}

func emptyRanges(pos Positions) []Range {
	var rs []Range
	for _, p := range slices.Sorted(maps.Keys(pos.Next)) {
		rs = append(rs, Range{Partition: p, From: pos.Next[p], To: pos.Next[p]})
	}
	return rs
}
