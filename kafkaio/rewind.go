package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// RewindOffsets is Rewind that also returns the offsets it committed, by
// partition.
func RewindOffsets(ctx context.Context, adm *kadm.Client, group, topic string, offset int64) (map[int32]int64, error) {
	if offset < 0 {
		return nil, fmt.Errorf("rewind to offset %d: offsets start at 0", offset)
	}
	ps, err := Owned(ctx, adm, topic, 0, 1)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(ps))
	rs := make([]Range, len(ps))
	for i, p := range ps {
		out[p] = offset
		rs[i] = Range{Partition: p, To: offset}
	}
	return out, Commit(ctx, adm, group, topic, rs)
}

// Committed returns the group's committed offsets of topic by partition; a
// partition the group never committed is absent.
func Committed(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil
	}
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// CheckCommitted reads the group's committed offsets of topic back and
// returns an error naming every partition whose offset is not the one in
// want.
func CheckCommitted(ctx context.Context, adm *kadm.Client, group, topic string, want map[int32]int64) error {
	got, err := Committed(ctx, adm, group, topic)
	if err != nil {
		return err
	}
	var bad []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s[%d]: no committed offset, want %d", topic, p, want[p]))
		case g != want[p]:
			bad = append(bad, fmt.Sprintf("%s[%d]: committed %d, want %d", topic, p, g, want[p]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("group %s does not hold the offsets just committed: %s", group, strings.Join(bad, "; "))
	}
	return nil
}
