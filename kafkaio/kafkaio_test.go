package kafkaio

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
)

// setup gives a kfake broker with a 3-partition topic holding 10 records per
// partition, record i of each partition stamped base+i minutes.
func setup(t *testing.T) (config.Kafka, *kgo.Client, string, time.Time) {
	t.Helper()
	topic := "in-" + testenv.UniqueSuffix(t)
	cfg := config.Kafka{Brokers: testenv.Kafka(t, 3, topic)}
	cl, err := NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 10; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprint(p, i)), Timestamp: base.Add(time.Duration(i) * time.Minute)})
		}
	}
	pcl, err := NewClient(cfg, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return cfg, cl, topic, base
}

func TestOwnedSplitsPartitionsByShard(t *testing.T) {
	_, cl, topic, _ := setup(t)
	adm := Admin(cl)
	got := map[int32]int{}
	for shard := 0; shard < 2; shard++ {
		ps, err := Owned(context.Background(), adm, topic, shard, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if int(p)%2 != shard {
				t.Errorf("shard %d owns partition %d", shard, p)
			}
			got[p]++
		}
	}
	if len(got) != 3 {
		t.Errorf("partitions owned: %v, want each of 0..2 exactly once", got)
	}
	if _, err := Owned(context.Background(), adm, "no-such-topic-"+testenv.UniqueSuffix(t), 0, 1); err == nil {
		t.Error("Owned of a missing topic: no error")
	}
}

func TestPositionsCommitsAndRewinds(t *testing.T) {
	cfg, cl, topic, base := setup(t)
	ctx := context.Background()
	adm := Admin(cl)
	group := "g-" + testenv.UniqueSuffix(t)
	parts := []int32{0, 1, 2}

	pos, err := Position(ctx, adm, group, topic, parts)
	if err != nil {
		t.Fatalf("a group that never committed: %v", err)
	}
	if pos.Lag() != 30 || pos.Next[1] != 0 || pos.End[1] != 10 {
		t.Fatalf("fresh group: %+v, want next 0, end 10, lag 30", pos)
	}

	recs, ranges, err := ReadRange(ctx, cfg, nil, topic, pos, 12, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 12 || len(ranges) != 3 {
		t.Fatalf("read %d records in %d ranges, want 12 in 3", len(recs), len(ranges))
	}
	read := 0
	for _, r := range ranges {
		read += int(r.To - r.From)
		if r.From != 0 {
			t.Errorf("range %+v does not start at the committed offset", r)
		}
	}
	if read != 12 {
		t.Fatalf("ranges cover %d records, want 12", read)
	}
	if err := Commit(ctx, adm, group, topic, ranges); err != nil {
		t.Fatal(err)
	}
	if pos, _ = Position(ctx, adm, group, topic, parts); pos.Lag() != 18 {
		t.Fatalf("after committing 12: lag %d, want 18", pos.Lag())
	}

	if err := Rewind(ctx, adm, group, topic, 0); err != nil {
		t.Fatal(err)
	}
	if pos, _ = Position(ctx, adm, group, topic, parts); pos.Lag() != 30 {
		t.Fatalf("after rewinding to 0: lag %d, want 30", pos.Lag())
	}
	offs, err := RewindTo(ctx, adm, group, topic, base.Add(7*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range offs {
		if o != 7 {
			t.Errorf("partition %d rewound to %d, want 7 (the record stamped +7 min)", p, o)
		}
	}
	if pos, _ = Position(ctx, adm, group, topic, parts); pos.Lag() != 9 {
		t.Fatalf("after rewinding to +7 min: lag %d, want 9", pos.Lag())
	}

	// Nothing to read: every partition gets an empty range at its position.
	full, _ := Position(ctx, adm, group, topic, parts)
	for p := range full.Next {
		full.Next[p] = full.End[p]
	}
	recs, ranges, err = ReadRange(ctx, cfg, nil, topic, full, 100, time.Second)
	if err != nil || len(recs) != 0 || len(ranges) != 3 || ranges[0].From != ranges[0].To {
		t.Fatalf("idle read: %d records, ranges %+v, err %v", len(recs), ranges, err)
	}
}
