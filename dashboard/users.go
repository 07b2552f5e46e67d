package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/orderflow/orderflow/observe"
)

// GET /api/users/{id} over many ids: a client walking the users would make
// one read of the warehouse per user per refresh of the marts (each batch),
// which is what slowed the pipeline down. Instead, while the API keeps
// answers (apiCache live), every user's answer comes from one snapshot of
// the user marts, read with four set-based statements (usersSnapshotSQL) at
// most once per generation, and only when someone asks for a user.
//
// The first request of a newer generation reads the new snapshot; requests
// that arrive meanwhile are served from the previous one (one refresh old,
// as the headers say) rather than wait. Past usersSnapshotMaxRows product counters
// (PostgreSQL's estimate) the snapshot is not taken and each id is read on
// its own (readUser), so the API's memory stays bounded.
const usersSnapshotMaxRows = 200_000 // about 40 MB of answers; the API pod's limit is 256Mi

// usersSnapshot is every user's answer, products sorted as the API pages
// them; byID is nil when the marts were too large to keep.
type usersSnapshot struct {
	gen    uint64
	readAt time.Time
	byID   map[string]*User // by source user id; Products.Items holds them all
}

// userSnapshots holds the current snapshot and the one read in flight.
type userSnapshots struct {
	mu      sync.Mutex
	cur     *usersSnapshot
	reading bool // a read of the next snapshot runs
	reads   singleflight.Group
	taken   atomic.Int64 // snapshots read (the metric, per server)
}

var usersSnapshotReads = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "orderflow_api_users_snapshot_reads_total",
	Help: "Reads of every user's answer at once (one per refresh of the marts at most, when /api/users is asked).",
})

func init() { observe.Registry.MustRegister(usersSnapshotReads) }

// snapshotUser returns id's answer from the users' snapshot and when it was
// read; ok is false when no snapshot serves (the API keeps no answers, or
// the marts are too large), and the caller reads the user on its own.
//
// The first request of a generation reads the new snapshot and waits for
// it; requests that arrive while that read runs are answered from the
// previous generation's snapshot (one refresh old, as their headers say)
// instead of queueing behind it.
func (s *Server) snapshotUser(id string) (u *User, readAt time.Time, ok bool, err error) {
	gen, live := s.api.current()
	if !live {
		return nil, time.Time{}, false, nil
	}
	s.users.mu.Lock()
	cur, reading := s.users.cur, s.users.reading
	fresh := cur != nil && cur.gen == gen && s.now().Sub(cur.readAt) < apiMaxAge
	oneBehind := cur != nil && cur.gen+1 == gen && s.now().Sub(cur.readAt) < apiMaxAge
	s.users.mu.Unlock()
	if !fresh && !(reading && oneBehind) {
		// Only the read itself sets and clears reading, so the flag
		// cannot outlive it.
		res := <-s.users.reads.DoChan("users", func() (any, error) {
			s.users.mu.Lock()
			s.users.reading = true
			s.users.mu.Unlock()
			defer func() { s.users.mu.Lock(); s.users.reading = false; s.users.mu.Unlock() }()
			return s.readUsersSnapshot(gen)
		})
		if res.Err != nil {
			return nil, time.Time{}, false, res.Err
		}
		cur = res.Val.(*usersSnapshot)
	}
	if cur.byID == nil {
		return nil, time.Time{}, false, nil // too large: read on its own
	}
	return cur.byID[id], cur.readAt, true, nil
}

// readUsersSnapshot reads every user's answer for generation gen and keeps
// it (without answers when the marts are over usersSnapshotMaxRows).
func (s *Server) readUsersSnapshot(gen uint64) (*usersSnapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), statementTimeout*time.Millisecond)
	defer cancel()
	snap := &usersSnapshot{gen: gen, readAt: s.now()}
	byPK := map[string]*User{}
	err := readOnly(ctx, s.pool, func(tx pgx.Tx) error {
		var estimate float64
		if err := tx.QueryRow(ctx, query("users_snapshot_size")).Scan(&estimate); err != nil {
			return err
		}
		if estimate > usersSnapshotMaxRows {
			return nil // byID stays nil: each id is read on its own
		}
		snap.byID = map[string]*User{}
		b := &pgx.Batch{}
		b.Queue(query("users_snapshot_users")).Query(func(rows pgx.Rows) error {
			var u User
			_, err := pgx.ForEachRow(rows, []any{&u.HUserPK, &u.UserID, &u.Name, &u.Login}, func() error {
				nu := &User{UserID: u.UserID, HUserPK: u.HUserPK, Name: u.Name, Login: u.Login,
					Tags: []UserTag{}, Categories: []CategoryCounter{}, Products: Page[ProductCounter]{Items: []ProductCounter{}}}
				snap.byID[u.UserID], byPK[u.HUserPK] = nu, nu
				return nil
			})
			return err
		})
		var pk string
		var t UserTag
		b.Queue(query("users_snapshot_tags")).Query(func(rows pgx.Rows) error {
			_, err := pgx.ForEachRow(rows, []any{&pk, &t.Tag, &t.RuleID, &t.OrderCnt, &t.Threshold}, func() error {
				if u := byPK[pk]; u != nil {
					u.Tags = append(u.Tags, t)
				}
				return nil
			})
			return err
		})
		var c CategoryCounter
		b.Queue(query("users_snapshot_categories")).Query(func(rows pgx.Rows) error {
			_, err := pgx.ForEachRow(rows, []any{&pk, &c.CategoryID, &c.CategoryName, &c.OrderCnt}, func() error {
				if u := byPK[pk]; u != nil {
					u.Categories = append(u.Categories, c)
				}
				return nil
			})
			return err
		})
		var p ProductCounter
		b.Queue(query("users_snapshot_products")).Query(func(rows pgx.Rows) error {
			_, err := pgx.ForEachRow(rows, []any{&pk, &p.ProductID, &p.HProductPK, &p.ProductName, &p.OrderCnt}, func() error {
				if u := byPK[pk]; u != nil {
					u.Products.Items = append(u.Products.Items, p)
				}
				return nil
			})
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("read the users' snapshot: %w", err)
	}
	usersSnapshotReads.Inc()
	s.users.taken.Add(1)
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	if s.users.cur == nil || s.users.cur.gen <= gen {
		s.users.cur = snap
	}
	return snap, nil
}

// page is u's answer with one page of its products.
func (u *User) page(limit, offset int) User {
	out := *u
	all := u.Products.Items
	out.Products = Page[ProductCounter]{Limit: limit, Offset: offset, Total: len(all), Items: []ProductCounter{}}
	if offset < len(all) {
		out.Products.Items = all[offset:min(offset+limit, len(all))]
	}
	return out
}

// writeUser writes a user's answer read at readAt.
func writeUser(w http.ResponseWriter, u User, readAt time.Time) {
	w.Header().Set(readAtHeader, readAt.UTC().Format(time.RFC3339Nano))
	writeJSON(w, http.StatusOK, u)
}
