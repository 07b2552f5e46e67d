package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/simulator"
)

// The checks of the pipeline's output topics (stg-service-orders,
// dds-service-orders) against the simulator's oracle.

func consumeAll(t *testing.T, s *stack, topic string) []*kgo.Record {
	t.Helper()
	opts, err := kafkaio.Options(s.cfg.Kafka, nil, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kafkaio.Admin(s.kcl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range ends[topic] {
		total += p.Offset
	}
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for int64(len(recs)) < total && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	if int64(len(recs)) != total {
		t.Fatalf("%s: read %d of %d records", topic, len(recs), total)
	}
	return recs
}

// enriched is CONTRACT §5, decoded strictly by the test.
type enriched struct {
	ObjectID   int64  `json:"object_id"`
	ObjectType string `json:"object_type"`
	Payload    struct {
		ID         int64   `json:"id"`
		Date       string  `json:"date"`
		Cost       float64 `json:"cost"`
		Payment    float64 `json:"payment"`
		Status     string  `json:"status"`
		Restaurant struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"restaurant"`
		User struct {
			ID    string  `json:"id"`
			Name  *string `json:"name"`
			Login *string `json:"login"`
		} `json:"user"`
		Products []struct {
			ID       string  `json:"id"`
			Price    float64 `json:"price"`
			Quantity int     `json:"quantity"`
			Name     string  `json:"name"`
			Category string  `json:"category"`
		} `json:"products"`
	} `json:"payload"`
}

func checkStgTopic(t *testing.T, s *stack, msgs []simulator.Message, want simulator.Expected) {
	t.Helper()
	recs := consumeAll(t, s, s.cfg.Kafka.StgTopic)
	seen := map[int64]bool{}
	unknownUsers := 0
	for _, r := range recs {
		var e enriched
		dec := json.NewDecoder(bytesReader(r.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("stg message %s: %v", r.Value, err)
		}
		if string(r.Key) != fmt.Sprint(e.ObjectID) || e.ObjectType != "order" || e.Payload.ID != e.ObjectID {
			t.Errorf("stg message key %q: object %d, type %q, payload id %d", r.Key, e.ObjectID, e.ObjectType, e.Payload.ID)
		}
		if e.Payload.Restaurant.Name == "" || len(e.Payload.Products) == 0 {
			t.Errorf("order %d: restaurant or products missing: %s", e.ObjectID, r.Value)
		}
		for _, p := range e.Payload.Products {
			if p.Name != want.ProductNames[p.ID] || p.Category == "" {
				t.Errorf("order %d product %s: name %q category %q, menu says %q", e.ObjectID, p.ID, p.Name, p.Category, want.ProductNames[p.ID])
			}
		}
		if e.Payload.User.Name == nil {
			unknownUsers++
		}
		seen[e.ObjectID] = true
	}
	if len(seen) != want.Orders {
		t.Errorf("stg-service-orders carries %d distinct orders, want %d", len(seen), want.Orders)
	}
	if unknownUsers == 0 {
		t.Errorf("no enriched order has a null user name, yet the history has unknown users")
	}
	t.Logf("stg-service-orders: %d messages, %d orders, %d with unknown users", len(recs), len(seen), unknownUsers)
}

type counters struct {
	UserID     string `json:"user_id"`
	Categories map[string]struct {
		CategoryName string `json:"category_name"`
		OrderCnt     int    `json:"order_cnt"`
	} `json:"categories"`
	Products map[string]struct {
		ProductName string `json:"product_name"`
		OrderCnt    int    `json:"order_cnt"`
	} `json:"products"`
}

// checkCountersTopic: each user's last message carries exactly the oracle's counters.
func checkCountersTopic(t *testing.T, s *stack, w *simulator.World, want simulator.Expected) {
	t.Helper()
	last := map[string]counters{}
	for _, r := range consumeAll(t, s, s.cfg.Kafka.DdsTopic) {
		var c counters
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatalf("dds message %s: %v", r.Value, err)
		}
		if string(r.Key) != c.UserID {
			t.Errorf("dds message key %q for user %q", r.Key, c.UserID)
		}
		last[c.UserID] = c
	}
	// Every user who holds a counter has had a message. (A user named only
	// by a version that a newer one replaced within the same batch never
	// reached the vault, so has no counters to publish.)
	for k, n := range want.UserProducts {
		if _, ok := last[k[0]]; !ok && n > 0 {
			t.Errorf("no counters message for user %s", k[0])
		}
	}
	for u, c := range last {
		for p, v := range c.Products {
			if v.OrderCnt != want.UserProducts[[2]string{u, p}] {
				t.Errorf("user %s product %s: message says %d, want %d", u, p, v.OrderCnt, want.UserProducts[[2]string{u, p}])
			}
		}
		for k, n := range want.UserProducts {
			if k[0] == u && c.Products[k[1]].OrderCnt != n {
				t.Errorf("user %s product %s: message has %d, want %d", u, k[1], c.Products[k[1]].OrderCnt, n)
			}
		}
		for cat, v := range c.Categories {
			if cat != key(v.CategoryName).String() {
				t.Errorf("category key %s is not h_category_pk of %q", cat, v.CategoryName)
			}
			if v.OrderCnt != want.UserCategories[[2]string{u, v.CategoryName}] {
				t.Errorf("user %s category %s: message says %d, want %d", u, v.CategoryName, v.OrderCnt, want.UserCategories[[2]string{u, v.CategoryName}])
			}
		}
	}
	t.Logf("dds-service-orders: last message of %d users matches the oracle", len(last))
}
