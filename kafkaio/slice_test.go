package kafkaio

import (
	"context"
	"testing"
	"time"
)

// Consecutive slices share their bounds and read exactly their records.
func TestSliceBoundsByTimestamp(t *testing.T) {
	cfg, cl, topic, base := setup(t) // record i of each partition at base+i min
	adm := Admin(cl)
	parts := []int32{0, 2}
	ctx := context.Background()
	total := 0
	var prevEnd map[int32]int64
	for k := 0; k < 4; k++ { // slices of 3 minutes from base-1m: [-1,2) [2,5) [5,8) [8,11)
		from := base.Add(time.Duration(3*k-1) * time.Minute)
		pos, err := SliceBounds(ctx, adm, topic, parts, from, from.Add(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(pos.Next) != 2 || len(pos.End) != 2 {
			t.Fatalf("slice %d: %+v, want partitions 0 and 2 only", k, pos)
		}
		for _, p := range parts {
			if prevEnd != nil && pos.Next[p] != prevEnd[p] {
				t.Fatalf("slice %d partition %d starts at %d, the previous ended at %d", k, p, pos.Next[p], prevEnd[p])
			}
		}
		prevEnd = pos.End
		recs, _, err := ReadRange(ctx, cfg, nil, topic, pos, 1000, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Timestamp.Before(from) || !r.Timestamp.Before(from.Add(3*time.Minute)) {
				t.Fatalf("slice %d read a record at %s", k, r.Timestamp)
			}
		}
		total += len(recs)
	}
	if total != 20 {
		t.Fatalf("the slices read %d records, want 20", total)
	}
}
