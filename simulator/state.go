package simulator

// Restart safety. Every record Run produces carries a header with the
// simulator's state: the options its World was built from, the history it
// produced (size and fingerprint), how far the history got, and the next
// object_id. On start, Run reads the last records of every partition of the
// input topic and resumes from the newest state found, so a restarted
// simulator (make run on an existing data folder) rebuilds the very world the
// records came from, whatever the configuration or the clock say now.
//
// The broker, not a file, holds the state because the state must describe
// exactly the records the topic holds: a record and its header are written
// together (no window where one exists without the other), the state goes
// wherever the topic goes (deleting the data folder, or pointing at another
// broker, resets both), and it needs no path from the caller.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// StateHeader is the key of the record header that carries the simulator's
// state on every record Run produces.
const StateHeader = "orderflow-simulator"

const (
	// tailRecords is how many of the last records of each partition Run
	// reads for the state.
	tailRecords = 500
	// tailWait bounds the read of the tails.
	tailWait = 15 * time.Second
)

// simState is what a record's StateHeader says.
type simState struct {
	Seed        int64
	Users       int
	Restaurants int
	End         int64  // the World's End, Unix seconds
	History     int    // orders of history asked for
	HistSum     uint64 // historySum of the history those produce
	Done        int    // messages of the history produced up to this record (all of them for a live record)
	Next        int64  // the World's next object_id once this record was made
}

const stateFormat = "v1 seed=%d users=%d restaurants=%d end=%d history=%d hsum=%x done=%d next=%d"

func (s simState) header() kgo.RecordHeader {
	return kgo.RecordHeader{Key: StateHeader, Value: fmt.Appendf(nil, stateFormat,
		s.Seed, s.Users, s.Restaurants, s.End, s.History, s.HistSum, s.Done, s.Next)}
}

func parseState(v []byte) (simState, bool) {
	var s simState
	n, err := fmt.Sscanf(string(v), stateFormat, &s.Seed, &s.Users, &s.Restaurants, &s.End, &s.History, &s.HistSum, &s.Done, &s.Next)
	return s, err == nil && n == 8 && s.Users > 0 && s.Restaurants > 0 && s.History >= 0 && s.Done >= 0
}

// options are the World options the state was made with.
func (s simState) options() Options {
	return Options{Seed: s.Seed, Users: s.Users, Restaurants: s.Restaurants, End: time.Unix(s.End, 0).UTC()}
}

// historySum fingerprints a history (its values, in order).
func historySum(msgs []Message) uint64 {
	h := fnv.New64a()
	for _, m := range msgs {
		fmt.Fprintf(h, "%d:", len(m.Value))
		h.Write(m.Value)
	}
	return h.Sum64()
}

// tail is what the end of the input topic tells.
type tail struct {
	records  int64     // records in the topic (end minus start offsets)
	read     int       // records of the tails actually read
	state    *simState // the newest state found, nil if none
	maxObjID int64     // the greatest object_id among the tails' values
}

// readTail reads the last tailRecords records of every partition of topic.
func readTail(ctx context.Context, cl *kgo.Client, topic string) (tail, error) {
	var t tail
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return t, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return t, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	endOf := map[int32]int64{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
			return // no topic yet: nothing was produced
		}
		if o.Err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("end offset of %s[%d]: %w", topic, o.Partition, o.Err))
			return
		}
		start := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok && s.Err == nil {
			start = s.Offset
		}
		if o.Offset > start {
			t.records += o.Offset - start
			from[o.Partition] = kgo.NewOffset().At(max(start, o.Offset-tailRecords))
			endOf[o.Partition] = o.Offset
		}
	})
	if ferr != nil || len(from) == 0 {
		return t, ferr
	}

	rd, err := kgo.NewClient(append(slices.Clone(cl.Opts()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return t, fmt.Errorf("kafka client to read the tail of %s: %w", topic, err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(ctx, tailWait)
	defer cancel()
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range endOf {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			break // read what we could (gaps of control records, a slow broker)
		}
		fs.EachError(func(_ string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("read %s[%d]: %w", topic, p, err))
		})
		if ferr != nil {
			return t, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
			t.read++
			var v struct {
				ObjectID int64 `json:"object_id"`
			}
			if json.Unmarshal(r.Value, &v) == nil && v.ObjectID > t.maxObjID {
				t.maxObjID = v.ObjectID
			}
			for _, h := range r.Headers {
				if h.Key != StateHeader {
					continue
				}
				if s, ok := parseState(h.Value); ok && (t.state == nil || s.Done > t.state.Done ||
					s.Done == t.state.Done && s.Next > t.state.Next) {
					t.state = &s
				}
			}
		})
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return t, err
	}
	return t, nil
}

// session is what Run produces: the history (all of it, for the headers'
// numbering) from index from on, then live batches.
type session struct {
	state   simState // Done and Next are filled in per record
	history []Message
	from    int
}

// resume decides what Run produces, from the end of the input topic:
//   - an empty topic: the history of historyOrders orders from w, then live;
//   - a topic whose records carry the simulator's state: w becomes the world
//     of that state (the same users and restaurants, the history replayed so
//     the orders it holds are those sent), the rest of that history if it was
//     cut short, then live orders from the next unused object_id. If the
//     replayed history differs from the one sent (the generator changed), w
//     forgets those orders, so no later version of them is ever made;
//   - records without the state (an older simulator, another producer): no
//     history, w forgets its orders, and object_ids go on past the greatest
//     one read.
func resume(ctx context.Context, w *World, cl *kgo.Client, topic string, historyOrders int, log *slog.Logger) (session, error) {
	t, err := readTail(ctx, cl, topic)
	if err != nil {
		return session{}, err
	}
	if t.records == 0 {
		hist := w.History(historyOrders)
		return session{state: w.state(historyOrders, historySum(hist)), history: hist}, nil
	}
	if t.state == nil {
		log.Warn("simulator: the input topic holds records without the simulator's state (an older simulator or another producer): "+
			"not producing the history; live orders take new object_ids", "records", t.records, "read", t.read, "max_object_id", t.maxObjID)
		w.orders = nil
		w.nextID = max(w.nextID, t.maxObjID+1)
		return session{state: w.state(0, historySum(nil))}, nil
	}

	st := *t.state
	if o := w.opts; o.Seed != st.Seed || o.Users != st.Users || o.Restaurants != st.Restaurants {
		log.Warn("simulator: the input topic was made with other simulator settings; keeping those, so the reference data and orders stay consistent",
			"seed", st.Seed, "users", st.Users, "restaurants", st.Restaurants)
	}
	nw := NewWorld(st.options())
	hist := nw.History(st.History)
	from := min(st.Done, len(hist))
	if historySum(hist) != st.HistSum {
		log.Warn("simulator: the replayed history differs from the one in the topic (another simulator version?): "+
			"no new versions of earlier orders", "history_orders", st.History)
		nw.orders = nil
		from = len(hist)
	}
	nw.nextID = max(nw.nextID, st.Next, t.maxObjID+1)
	// Live orders after a restart do not repeat those after the first start.
	nw.rnd = newRand(uint64(st.Seed) ^ uint64(nw.nextID)*0x9e3779b97f4a7c15)
	*w = *nw
	log.Info("simulator: resuming from the input topic", "records", t.records, "history_left", len(hist)-from,
		"next_object_id", w.nextID, "orders_known", len(w.orders))
	return session{state: st, history: hist, from: from}, nil
}

// state is the state of w with a history of historyOrders orders.
func (w *World) state(historyOrders int, sum uint64) simState {
	o := w.opts
	return simState{Seed: o.Seed, Users: o.Users, Restaurants: o.Restaurants, End: o.End.Unix(), History: historyOrders, HistSum: sum}
}
