package kafkaio

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// SliceBounds finds, on each of partitions, the offsets of the time slice
// [from, to): Next is the first offset whose timestamp is at or after from,
// End the first at or after to (Kafka's time index through kadm's
// ListOffsetsAfterMilli; a partition with no such record gives its end).
// Consecutive slices share their bounds, so their offset ranges neither
// overlap nor leave a gap; with non-decreasing record timestamps (the
// producer's order, or LogAppendTime) a slice holds exactly the records
// whose timestamps fall in it.
func SliceBounds(ctx context.Context, adm *kadm.Client, topic string, partitions []int32, from, to time.Time) (Positions, error) {
	pos := Positions{Next: map[int32]int64{}, End: map[int32]int64{}}
	for _, b := range []struct {
		at  time.Time
		out map[int32]int64
	}{{from, pos.Next}, {to, pos.End}} {
		listed, err := adm.ListOffsetsAfterMilli(ctx, b.at.UnixMilli(), topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return pos, fmt.Errorf("offsets of %s at %s: %w", topic, b.at.Format(time.RFC3339Nano), err)
		}
		for _, p := range partitions {
			o, ok := listed.Lookup(topic, p)
			if !ok {
				return pos, fmt.Errorf("offsets of %s at %s: partition %d not listed", topic, b.at.Format(time.RFC3339Nano), p)
			}
			b.out[p] = o.Offset
		}
	}
	for p, end := range pos.End {
		if pos.Next[p] > end { // cannot happen with a sane time index; never read backwards
			pos.Next[p] = end
		}
	}
	return pos, nil
}
