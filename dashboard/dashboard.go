// Package dashboard serves orderflow's web dashboard and its read-only JSON
// API (CONTRACT §13) on DASHBOARD_ADDR.
//
// The dashboard is one HTML page rendered on the server: bar charts drawn as
// inline SVG by html/template, inline CSS, and a few lines of inline script
// that refresh it every few seconds, so it needs no build step and no CDN.
// It shows category popularity (share of users, share of orders), dish
// popularity (distinct users, orders), how many users hold each tag, and the
// pipeline's health (lag per partition, the last batches, rejected messages
// by reason), with a red banner at the top while the pipeline is stalled
// (stall.go). Every number is a column of a SQL result: the marts' charts
// read the views of schema bi that DataLens reads too (docs/DATALENS.md).
// The page shows a snapshot of those results, read at most once a second
// and never older than two refresh intervals (cache.go), so open tabs
// neither wait for nor load the warehouse.
//
// The API, under /api/:
//
//	GET /api/users/{id}          a user's tags, category counters and one page of
//	                             product counters, by SOURCE user id (1-64 of
//	                             [A-Za-z0-9_-]); ?limit= (1-100, default 20) &offset= (0-1000000)
//	GET /api/top/products        products by ?by=orders|users, ?limit= &offset=
//	GET /api/top/categories      categories by ?by=orders|users, ?limit= &offset=
//	GET /api/tags                every tag rule with how many users hold it
//
// Errors are JSON {"error": "..."}: 400 for a malformed id or parameter (a
// ?limit= above 100 too), 404 for an unknown user or path, 405 for a method
// other than GET or HEAD. When the warehouse fails, the answer is 500
// {"error": "internal error", "request_id": "..."} (503 when it did not
// answer in time) and never carries PostgreSQL's text: that is logged with
// the same request id, which the X-Request-Id header repeats.
// Every request reads inside a READ ONLY transaction, so neither the page
// nor the API can write to the warehouse. The API's answers are kept until
// the next refresh of the marts (apicache.go): they may be one batch old,
// and say when they were read (X-Orderflow-Read-At, Age).
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderflow/orderflow/config"
)

// Page sizes of the API's lists.
const (
	DefaultLimit = 20  // rows per page when ?limit= is absent
	MaxLimit     = 100 // the largest page; a larger ?limit= is a 400
)

// DefaultRefresh is how often the page reloads its charts; ?refresh=N
// (seconds, 0 = never) overrides it.
const DefaultRefresh = 5 * time.Second

// statementTimeout bounds every query of a request (milliseconds).
const statementTimeout = 5000

// Server is the dashboard page and the API, as an http.Handler.
type Server struct {
	cfg   config.Config
	pool  *pgxpool.Pool
	adm   *kadm.Client
	log   *slog.Logger
	mux   *http.ServeMux
	now   func() time.Time
	snap  snapshots
	api   apiCache
	users userSnapshots // every user's answer, for /api/users (users.go)
}

// New returns the dashboard over pool (the warehouse) and adm (for the
// input topic's lag; nil leaves the lag chart empty). cfg names the topic
// and consumer group. A nil log discards.
func New(cfg config.Config, pool *pgxpool.Pool, adm *kadm.Client, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, pool: pool, adm: adm, log: log, mux: http.NewServeMux(), now: time.Now}
	s.mux.HandleFunc("GET /{$}", s.handlePage)
	s.mux.HandleFunc("GET /api/users/{id}", measured("/api/users/{id}", s.cached(s.handleUser)))
	s.mux.HandleFunc("GET /api/top/products", measured("/api/top/products", s.cached(s.handleTopProducts)))
	s.mux.HandleFunc("GET /api/top/categories", measured("/api/top/categories", s.cached(s.handleTopCategories)))
	s.mux.HandleFunc("GET /api/tags", measured("/api/tags", s.cached(s.handleTags)))
	s.opsRoutes()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return s
}

// ServeHTTP routes a request. Unknown API paths answer JSON 404, other
// methods than GET and HEAD answer 405.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "read-only: only GET and HEAD")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve runs the dashboard on addr until ctx ends, then shuts it down
// (waiting up to 5 s for requests in flight). It returns an error when addr
// cannot be listened on or the server fails; nil after a clean shutdown.
func Serve(ctx context.Context, addr string, cfg config.Config, pool *pgxpool.Pool, adm *kadm.Client, log *slog.Logger) error {
	run, err := New(cfg, pool, adm, log).Listen(ctx, addr)
	if err != nil {
		return err
	}
	failed := make(chan error, 1)
	go func() { failed <- run.Wait() }()
	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return run.Shutdown(sctx)
}

// ShutdownTimeout is how long the requests in flight get to finish when
// the dashboard stops (Serve, and the component of the fx apps).
const ShutdownTimeout = 5 * time.Second

// Running is the dashboard served on a listener (Listen) until Shutdown.
type Running struct {
	srv      *http.Server
	done     chan struct{} // closed when the server has stopped serving
	err      error         // why it stopped by itself; set before done is closed
	shutdown chan struct{} // closed by Shutdown
	stop     context.CancelFunc
}

// Listen listens on addr (ctx bounds only that; its values reach the
// requests) and serves s there in the background until Shutdown. It returns
// an error when addr cannot be listened on.
func (s *Server) Listen(ctx context.Context, addr string) (*Running, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen on %s: %w", addr, err)
	}
	base, stop := context.WithCancel(context.WithoutCancel(ctx))
	go s.listenRefreshes(base)
	r := &Running{
		srv: &http.Server{
			Handler:           s,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		},
		done:     make(chan struct{}),
		shutdown: make(chan struct{}),
		stop:     stop,
	}
	go func() {
		defer close(r.done)
		err := r.srv.Serve(ln)
		select {
		case <-r.shutdown:
		default:
			r.err = fmt.Errorf("dashboard: %w", err)
		}
	}()
	s.log.Info("dashboard listening", "url", "http://"+ln.Addr().String()+"/")
	return r, nil
}

// Wait waits until the server stops serving and returns why it stopped by
// itself (it failed); nil after Shutdown.
func (r *Running) Wait() error {
	<-r.done
	return r.err
}

// Shutdown stops the server, waiting until ctx ends for the requests in
// flight to finish.
func (r *Running) Shutdown(ctx context.Context) error {
	close(r.shutdown)
	r.stop()
	err := r.srv.Shutdown(ctx)
	<-r.done
	if err == nil {
		err = r.err
	}
	if err != nil {
		return fmt.Errorf("dashboard: shutdown: %w", err)
	}
	return nil
}

// readOnly runs fn in a READ ONLY, REPEATABLE READ transaction (one
// snapshot for everything a request shows) with a statement timeout.
func (s *Server) readOnly(ctx context.Context, fn func(pgx.Tx) error) error {
	return readOnly(ctx, s.pool, fn)
}

func readOnly(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", statementTimeout)); err != nil {
			return err
		}
		return fn(tx)
	})
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing to do
}

// Error is the body of every API error. RequestID names a server error in
// the dashboard's log.
type Error struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

// serverError logs err with a new request id and answers 500 "internal
// error" (503 when the warehouse did not answer in time) with that id, never
// err's text (PostgreSQL's messages name tables, columns and values).
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, id := s.logServerError(w, r, err)
	writeJSON(w, code, Error{Error: msg, RequestID: id})
}

// logServerError logs err under a new request id, sets X-Request-Id, and
// returns the status and the message to answer with.
func (s *Server) logServerError(w http.ResponseWriter, r *http.Request, err error) (code int, msg, id string) {
	code, msg = http.StatusInternalServerError, "internal error"
	if errors.Is(err, context.DeadlineExceeded) {
		code, msg = http.StatusServiceUnavailable, "the warehouse did not answer in time"
	}
	id = newRequestID()
	w.Header().Set("X-Request-Id", id)
	if r.Context().Err() == nil {
		s.log.Warn("dashboard request failed", "request_id", id, "path", r.URL.Path, "status", code, "err", err)
	}
	return code, msg, id
}

// newRequestID is 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
