package kafkaio

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// DefaultMaxMessageBytes is what the producer assumes of a topic whose
// limit it has not read yet: franz-go's default, just under Kafka's
// max.message.bytes default (1,048,588).
const DefaultMaxMessageBytes = 1_000_012

// RecordOverhead bounds what a record batch of one record adds to its key
// and value: the batch header (61 bytes) and the record's own varints and
// attributes.
const RecordOverhead = 61 + 32

// limitsTTL is how long a topic's limit is trusted before it is read again,
// so a changed max.message.bytes is picked up without a restart.
const limitsTTL = 5 * time.Minute

// Limits caches each output topic's max.message.bytes as the broker reports
// it (kadm DescribeTopicConfigs). The same value caps the producer's record
// batches (BatchMax, for kgo.ProducerBatchMaxBytesFn) and decides which
// orders are rejected as output_too_large, so a message that passes the check
// is one the producer sends and the broker accepts.
type Limits struct {
	mu    sync.Mutex
	admin *kadm.Client
	topic map[string]topicLimit
}

type topicLimit struct {
	bytes int
	read  time.Time
}

// NewLimits returns an empty cache; SetAdmin gives it a client to ask with.
func NewLimits() *Limits { return &Limits{topic: map[string]topicLimit{}} }

// SetAdmin names the admin client that reads the topics' configurations.
func (l *Limits) SetAdmin(a *kadm.Client) {
	l.mu.Lock()
	l.admin = a
	l.mu.Unlock()
}

// BatchMax is the producer's record-batch cap for topic: its limit once
// read, else DefaultMaxMessageBytes. franz-go calls it when it first sees a
// partition, which happens at the first produce, after MaxMessageBytes.
func (l *Limits) BatchMax(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.topic[topic]; ok {
		return int32(t.bytes)
	}
	return DefaultMaxMessageBytes
}

// MaxMessageBytes is the largest record batch topic accepts, read from the
// broker (the topic's max.message.bytes, else the broker's
// message.max.bytes default) and cached for a few minutes. The producer
// batches by size before compression, so a record fits when its key, value
// and RecordOverhead do.
func (l *Limits) MaxMessageBytes(ctx context.Context, topic string) (int, error) {
	l.mu.Lock()
	t, ok := l.topic[topic]
	admin := l.admin
	l.mu.Unlock()
	if ok && time.Since(t.read) < limitsTTL {
		return t.bytes, nil
	}
	if admin == nil {
		return DefaultMaxMessageBytes, nil
	}
	rcs, err := admin.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if rc.Err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, rc.Err)
	}
	n := DefaultMaxMessageBytes
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			v, err := strconv.Atoi(*c.Value)
			if err != nil || v < 512 {
				return 0, fmt.Errorf("topic %s: max.message.bytes %q is not a size", topic, *c.Value)
			}
			n = min(v, 1<<30)
		}
	}
	l.mu.Lock()
	if old, ok := l.topic[topic]; ok && old.bytes < n {
		// The producer caches a partition's cap when it first sees it, so a
		// raised limit only takes effect for records after a restart; keep
		// the smaller value, which both sides honour.
		n = old.bytes
	}
	l.topic[topic] = topicLimit{bytes: n, read: time.Now()}
	l.mu.Unlock()
	return n, nil
}

// Fits reports whether a record of this key and value fits a batch of at
// most maxBytes.
func Fits(key, value []byte, maxBytes int) bool {
	return len(key)+len(value)+RecordOverhead <= maxBytes
}
