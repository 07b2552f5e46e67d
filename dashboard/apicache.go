package dashboard

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/orderflow/orderflow/db"
)

// The API keeps its answers between refreshes of the marts, so that any
// number of clients costs the warehouse one read per distinct URL per batch
// and cannot slow the pipeline down.
//
// The marts change only in UpsertCdm, which signals db.MartsRefreshed
// after each refresh; the server LISTENs on that channel (listenRefreshes)
// and every signal starts a new generation of answers. A kept answer is
// served while its generation is current and it is younger than
// apiMaxAge (a safety net for a change made without the signal); the first
// request of a new generation reads the warehouse, and the requests for the
// same URL that arrive meanwhile wait for that read (singleflight) instead
// of reading too. While the listener is not connected nothing is kept: every
// request reads, as before.
//
// An answer may therefore be one batch old. Each says when it was read
// (X-Orderflow-Read-At) and how old it is (Age), as the README says.
const (
	apiMaxAge     = 30 * time.Second
	apiMaxEntries = 20000 // distinct URLs kept; past it, the generation starts empty
)

// readAtHeader says when an answer's data was read from the warehouse.
const readAtHeader = "X-Orderflow-Read-At"

// answer is one kept API response.
type answer struct {
	code   int
	header http.Header
	body   []byte
	readAt time.Time
}

// apiCache holds the answers of the current generation.
type apiCache struct {
	mu      sync.Mutex
	live    bool // the listener is connected: answers may be kept
	gen     uint64
	answers map[string]*answer
	reads   singleflight.Group
}

// current returns the generation and whether answers may be kept.
func (c *apiCache) current() (gen uint64, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.live
}

// get returns the kept answer for key in generation gen, if any.
func (c *apiCache) get(key string, gen uint64, now time.Time) *answer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil
	}
	a := c.answers[key]
	if a == nil || now.Sub(a.readAt) >= apiMaxAge {
		return nil
	}
	return a
}

// put keeps a for key if generation gen is still current.
func (c *apiCache) put(key string, gen uint64, a *answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || !c.live {
		return
	}
	if c.answers == nil || len(c.answers) >= apiMaxEntries {
		c.answers = make(map[string]*answer)
	}
	c.answers[key] = a
}

// refreshed starts a new generation: every kept answer is dropped.
func (c *apiCache) refreshed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.answers = nil
}

// setLive turns keeping on or off, starting a new generation either way.
func (c *apiCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.gen++
	c.answers = nil
}

// cached serves h's answers from the cache (see above). Only 200 and 404
// answers are kept; errors are always read anew.
func (s *Server) cached(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		gen, live := s.api.current()
		if !live {
			h(w, r)
			return
		}
		key := r.URL.Path + "?" + r.URL.Query().Encode()
		if a := s.api.get(key, gen, s.now()); a != nil {
			apiCacheHits.Inc()
			s.writeAnswer(w, a)
			return
		}
		v, _, _ := s.api.reads.Do(strconv.FormatUint(gen, 10)+" "+key, func() (any, error) {
			// The read outlives a client that goes away: others wait on it.
			rec := &recorder{header: http.Header{}, code: http.StatusOK}
			h(rec, r.WithContext(context.WithoutCancel(r.Context())))
			a := &answer{code: rec.code, header: rec.header, body: rec.body.Bytes(), readAt: s.now()}
			// A handler that says when its data was read answered from
			// state it keeps itself (the users' snapshot): serve that time,
			// and keep nothing here on top of it.
			at, err := time.Parse(time.RFC3339Nano, rec.header.Get(readAtHeader))
			if err == nil {
				a.readAt = at
			}
			if err != nil && (a.code == http.StatusOK || a.code == http.StatusNotFound) {
				s.api.put(key, gen, a)
			}
			return a, nil
		})
		s.writeAnswer(w, v.(*answer))
	}
}

// writeAnswer writes a kept answer with its read time and age.
func (s *Server) writeAnswer(w http.ResponseWriter, a *answer) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.Header().Set(readAtHeader, a.readAt.UTC().Format(time.RFC3339Nano))
	w.Header().Set("Age", strconv.Itoa(int(s.now().Sub(a.readAt)/time.Second)))
	w.WriteHeader(a.code)
	_, _ = w.Write(a.body)
}

// recorder is the http.ResponseWriter an answer is read into.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// listenRefreshes LISTENs on db.MartsRefreshed until ctx ends, starting a
// new generation of answers on every signal; while it is not connected,
// answers are not kept. A lost connection is retried every second.
func (s *Server) listenRefreshes(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		s.api.setLive(false)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("dashboard: listen for the marts' refreshes; API answers are read anew until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// listenOnce holds one connection LISTENing until it fails or ctx ends.
func (s *Server) listenOnce(ctx context.Context) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // LISTEN state must not go back to the pool
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+db.MartsRefreshed); err != nil {
		return err
	}
	s.api.setLive(true)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.api.refreshed()
	}
}
