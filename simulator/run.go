package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/orderflow/orderflow/refdata"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SaveRefData writes the World's users and restaurants to Redis (CONTRACT §3). The
// deliberately missing restaurant and the unknown users are never written.
func (w *World) SaveRefData(ctx context.Context, rdb redis.UniversalClient) error {
	return refdata.Save(ctx, rdb, w.Users, w.Restaurants)
}

// progressEvery is how many records Produce reports progress after.
const progressEvery = 5000

// Produce sends msgs to topic asynchronously (no key; Value and Timestamp
// set; a Tombstone as a null value, any other message as a non-null value,
// empty when Value is nil), waits for all of them, and returns the first
// error. progress, if not nil, is called with the number of records done
// about every 5,000 records and once at the end.
func Produce(ctx context.Context, cl *kgo.Client, topic string, msgs []Message, progress func(done int)) error {
	return produce(ctx, cl, topic, msgs, progress, nil)
}

// produce is Produce; headers, if not nil, gives the headers of msgs[i].
func produce(ctx context.Context, cl *kgo.Client, topic string, msgs []Message, progress func(done int), headers func(i int) []kgo.RecordHeader) error {
	var (
		mu       sync.Mutex
		done     int
		firstErr error
	)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		done++
		if progress != nil && (done%progressEvery == 0 || done == len(msgs)) {
			progress(done)
		}
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstErr != nil
	}
	for i, m := range msgs {
		if ctx.Err() != nil || failed() {
			break
		}
		r := &kgo.Record{Topic: topic, Value: m.Value, Timestamp: m.Timestamp}
		switch {
		case m.Tombstone:
			r.Value = nil
		case r.Value == nil:
			r.Value = []byte{}
		}
		if headers != nil {
			r.Headers = headers(i)
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { report(err) })
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", topic, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return fmt.Errorf("produce to %s: %w", topic, firstErr)
	}
	return ctx.Err()
}

// Run is the `simulate` command: it saves the reference data, produces
// History(historyOrders) with a progress line about every 10,000 records,
// then one Live batch every 60s/perMinute until ctx ends (perMinute <= 0:
// it stops after the history). It returns nil when ctx is cancelled. A nil
// log means slog.Default().
//
// Run is safe to restart on a topic it already wrote to: every record carries
// the simulator's state in the StateHeader header, and Run first reads the
// end of the topic (see resume). Then w is rebuilt as the world of that state
// (same seed, users, restaurants and history as the first start, whatever w
// was built with), the history is not produced again (only its rest, if the
// first start was cut short), and live orders take object_ids above every one
// used, so no object_id is ever sent again with another user, restaurant or
// items, and Redis keeps a single set of restaurants. The history is only
// produced into an empty topic.
func Run(ctx context.Context, w *World, rdb redis.UniversalClient, cl *kgo.Client, topic string, historyOrders int, perMinute float64, log *slog.Logger) error {
	err := run(ctx, w, rdb, cl, topic, historyOrders, perMinute, log)
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		return nil
	}
	return err
}

func run(ctx context.Context, w *World, rdb redis.UniversalClient, cl *kgo.Client, topic string, historyOrders int, perMinute float64, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	s, err := resume(ctx, w, cl, topic, historyOrders, log)
	if err != nil {
		return err
	}
	if err := w.SaveRefData(ctx, rdb); err != nil {
		return err
	}
	log.Info("simulator: reference data saved", "users", len(w.Users), "restaurants", len(w.Restaurants))

	if rest := s.history[s.from:]; len(rest) > 0 {
		log.Info("simulator: producing history", "orders", s.state.History, "records", len(rest), "topic", topic)
		st := s.state
		st.Next = w.nextID
		err := produce(ctx, cl, topic, rest, func(done int) {
			if done%10_000 == 0 || done == len(rest) {
				log.Info("simulator: history progress", "produced", done, "of", len(rest))
			}
		}, func(i int) []kgo.RecordHeader {
			st.Done = s.from + i + 1
			return []kgo.RecordHeader{st.header()}
		})
		if err != nil {
			return err
		}
	}
	if perMinute <= 0 {
		return nil
	}

	every := time.Duration(float64(time.Minute) / perMinute)
	log.Info("simulator: producing live orders", "every", every)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			batch := w.Live(now)
			st := s.state
			st.Done, st.Next = len(s.history), w.nextID
			hdr := []kgo.RecordHeader{st.header()}
			if err := produce(ctx, cl, topic, batch, nil, func(int) []kgo.RecordHeader { return hdr }); err != nil {
				return err
			}
			log.Debug("simulator: live orders", "records", len(batch), "object_id", batch[0].ObjectID)
		}
	}
}
