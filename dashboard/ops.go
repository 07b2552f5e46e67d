package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderflow/orderflow/observe"
)

// The dashboard process's own endpoints for Kubernetes and Prometheus, on
// the same address as the page and the API:
//
//	GET /healthz   200 while the process serves
//	GET /readyz    200 when the warehouse answers within 2 s, else 503
//	GET /metrics   the process's metrics (observe.Registry): build info,
//	               Go runtime, and the API's requests by route and status

// API metrics.
var (
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_api_requests_total",
		Help: "Requests to the read API by route and HTTP status.",
	}, []string{"route", "code"})
	apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "orderflow_api_request_duration_seconds",
		Help:    "Time to answer a read API request, by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	apiCacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "orderflow_api_cache_hits_total",
		Help: "Read API requests answered from the answers kept since the last refresh of the marts.",
	})
)

func init() { observe.Registry.MustRegister(apiRequests, apiDuration, apiCacheHits) }

// opsRoutes adds /healthz, /readyz and /metrics to the server's mux.
func (s *Server) opsRoutes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.pool.Ping(ctx); err != nil {
			s.log.Warn("dashboard: not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: the warehouse does not answer")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(observe.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// statusWriter remembers the status an http.Handler answered with.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// measured counts and times the requests h answers under route's name.
func measured(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		apiDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		apiRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	}
}
