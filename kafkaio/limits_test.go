package kafkaio

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
)

// TestLimitsReadTheTopicAndCapTheProducer: the limit comes from the broker
// (a topic created with max.message.bytes=20000 reports 20000, a default
// topic kfake's default), and a producer capped by Limits sends a record
// that Fits and refuses one that does not, before the broker sees it.
func TestLimitsReadTheTopicAndCapTheProducer(t *testing.T) {
	ctx := context.Background()
	plain := "plain-" + testenv.UniqueSuffix(t)
	small := "small-" + testenv.UniqueSuffix(t)
	cfg := config.Kafka{Brokers: testenv.Kafka(t, 1, plain)}
	limits := NewLimits()
	cl, err := NewClient(cfg, nil, kgo.ProducerBatchMaxBytesFn(limits.BatchMax))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := Admin(cl)
	limits.SetAdmin(adm)
	maxBytes := "20000"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &maxBytes}, small); err != nil {
		t.Fatal(err)
	}

	n, err := limits.MaxMessageBytes(ctx, plain)
	if err != nil || n != 1048588 {
		t.Fatalf("default topic: limit %d (err %v), want kfake's default 1048588", n, err)
	}
	n, err = limits.MaxMessageBytes(ctx, small)
	if err != nil || n != 20000 {
		t.Fatalf("small topic: limit %d (err %v), want 20000", n, err)
	}
	if got := limits.BatchMax(small); got != 20000 {
		t.Fatalf("producer cap %d, want the topic's 20000", got)
	}

	fits := bytes.Repeat([]byte("a"), 20000-RecordOverhead-1)
	if !Fits([]byte("k"), fits, n) {
		t.Fatal("a record exactly at the limit does not fit")
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: small, Key: []byte("k"), Value: fits}).FirstErr(); err != nil {
		t.Fatalf("a record that Fits was refused: %v", err)
	}
	tooBig := append(fits, 'b')
	if Fits([]byte("k"), tooBig, n) {
		t.Fatal("a record one byte over the limit fits")
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: small, Key: []byte("k"), Value: append(tooBig, bytes.Repeat([]byte("c"), 200)...)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("a record over the limit: %v, want MESSAGE_TOO_LARGE", err)
	}
}
