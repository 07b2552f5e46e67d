package dashboard

import (
	"context"
	"sync"
	"time"
)

// The page's numbers are read at most once a second whatever the number of
// open tabs, and a tab's refresh does not wait for the warehouse: a snapshot
// younger than pageFresh is served as it is; one younger than pageStale is
// served while a new one is read in the background (so an auto-refreshing
// page shows the numbers of its previous refresh); an older one, or none,
// is read before answering. Each snapshot says when it was read.
const (
	pageFresh   = time.Second
	pageStale   = 2 * DefaultRefresh
	pageTimeout = 20 * time.Second // one read of every chart
)

// snapshots holds the last page snapshot and the read under way.
type snapshots struct {
	mu      sync.Mutex
	data    pageData
	at      time.Time     // when data was read; zero: never
	reading chan struct{} // closed when the read under way ends; nil: none
	err     error         // of the last read
}

// page returns a snapshot of the page's numbers, as the rules above say.
func (s *Server) page(ctx context.Context) (pageData, error) {
	c := &s.snap
	c.mu.Lock()
	age := s.now().Sub(c.at)
	switch {
	case !c.at.IsZero() && age < pageFresh:
		d := c.data
		c.mu.Unlock()
		return d, nil
	case !c.at.IsZero() && age < pageStale:
		d := c.data
		s.read()
		c.mu.Unlock()
		return d, nil
	}
	done := s.read()
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return pageData{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return pageData{}, c.err
	}
	return c.data, nil
}

// read starts a read unless one is under way, and returns its channel.
// s.snap.mu must be held.
func (s *Server) read() <-chan struct{} {
	c := &s.snap
	if c.reading != nil {
		return c.reading
	}
	done := make(chan struct{})
	c.reading = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), pageTimeout)
		defer cancel()
		d, err := s.collect(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.err = err
		if err == nil {
			c.data, c.at = d, d.Generated
		} else {
			s.log.Warn("dashboard: read the page's numbers", "err", err)
		}
		c.reading = nil
		close(done)
	}()
	return done
}
