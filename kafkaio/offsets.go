package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Range is a half-open range of offsets [From, To) of one partition.
type Range struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

// Owned returns the partitions of topic that shard i of n owns (p % n == i), sorted.
func Owned(ctx context.Context, adm *kadm.Client, topic string, shard, shards int) ([]int32, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list topic %s: %w", topic, err)
	}
	t, ok := td[topic]
	if !ok || t.Err != nil {
		if ok {
			err = t.Err
		}
		return nil, fmt.Errorf("topic %s: %w", topic, errors.Join(err, errNoTopic))
	}
	var ps []int32
	for p := range t.Partitions {
		if int(p)%shards == shard {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps, nil
}

var errNoTopic = errors.New("topic not found")

// Positions is where the group stands on each owned partition: the next
// offset to read (Next) and the partition's end (End).
type Positions struct {
	Next map[int32]int64
	End  map[int32]int64
}

// Lag is how many records wait behind Next across the partitions.
func (p Positions) Lag() int64 {
	var lag int64
	for part, end := range p.End {
		if d := end - p.Next[part]; d > 0 {
			lag += d
		}
	}
	return lag
}

// Position reads the group's committed offsets for the given partitions. A
// partition with no commit (or a group that never committed) starts at the
// partition's earliest offset, as does a commit that retention has passed.
func Position(ctx context.Context, adm *kadm.Client, group, topic string, partitions []int32) (Positions, error) {
	pos := Positions{Next: map[int32]int64{}, End: map[int32]int64{}}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return pos, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return pos, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return pos, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	for _, p := range partitions {
		start, _ := starts.Lookup(topic, p)
		end, _ := ends.Lookup(topic, p)
		next := start.Offset
		if c, ok := committed.Lookup(topic, p); ok && c.At > next {
			next = c.At
		}
		pos.Next[p] = next
		pos.End[p] = end.Offset
	}
	return pos, nil
}

// Commit stores the next offsets to read for the group (each range's To).
func Commit(ctx context.Context, adm *kadm.Client, group, topic string, ranges []Range) error {
	os := make(kadm.Offsets)
	for _, r := range ranges {
		os.AddOffset(topic, r.Partition, r.To, -1)
	}
	if len(os) == 0 {
		return nil
	}
	resp, err := adm.CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	return nil
}

// Rewind moves the group's offsets of topic to the given offset on every
// partition (0 = from the beginning), for replays and backfills.
func Rewind(ctx context.Context, adm *kadm.Client, group, topic string, offset int64) error {
	ps, err := Owned(ctx, adm, topic, 0, 1)
	if err != nil {
		return err
	}
	rs := make([]Range, len(ps))
	for i, p := range ps {
		rs[i] = Range{Partition: p, To: offset}
	}
	return Commit(ctx, adm, group, topic, rs)
}

// RewindTo moves the group's offsets of topic, on every partition, to the
// first record whose timestamp is at or after at (a partition with no such
// record goes to its end). It returns the offsets it committed.
func RewindTo(ctx context.Context, adm *kadm.Client, group, topic string, at time.Time) (map[int32]int64, error) {
	listed, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of %s after %s: %w", topic, at.Format(time.RFC3339), err)
	}
	out := map[int32]int64{}
	var rs []Range
	listed.Each(func(o kadm.ListedOffset) {
		out[o.Partition] = o.Offset
		rs = append(rs, Range{Partition: o.Partition, To: o.Offset})
	})
	return out, Commit(ctx, adm, group, topic, rs)
}
