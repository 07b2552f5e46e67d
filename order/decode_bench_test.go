package order_test

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/simulator"
)

// BenchmarkDecode20k decodes a drain batch's worth of simulator messages
// (20,000 orders with their re-sends and bad messages) on one goroutine:
// go test ./order -run XXX -bench Decode.
func BenchmarkDecode20k(b *testing.B) {
	w := simulator.NewWorld(simulator.Options{Seed: 1, Users: 3000, Restaurants: 10, End: time.Now().UTC()})
	msgs := w.History(20000)
	b.ResetTimer()
	for b.Loop() {
		for _, m := range msgs {
			order.Decode(m.Value, m.Timestamp)
		}
	}
}
