package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// Flags of the api scenario.
var (
	apiN, apiDrainN, apiClients, apiRepeat, apiDrainRate int
	apiFor                                               time.Duration
)

// The targets of issue 12.
const (
	targetAPIReqPerS    = 2000.0
	targetAPIP99Ms      = 50.0
	targetAPISlowdownPc = 10.0
)

// apiEndpoints are the read API's paths under load; usersPath gets a user id.
var apiEndpoints = []string{"/api/tags", "/api/top/products", "/api/top/categories", usersPath}

const usersPath = "/api/users/{id}"

func init() {
	register(scenario{name: "api", order: 50, optIn: true,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&apiN, "api-n", 50000, "api: orders of history in the warehouse the read API serves")
			fs.IntVar(&apiDrainN, "api-drain-n", 20000, "api: orders of each drain timed with and without API load")
			fs.IntVar(&apiClients, "api-clients", 50, "api: concurrent HTTP clients (keep-alive)")
			fs.DurationVar(&apiFor, "api-for", 5*time.Second, "api: load time per endpoint")
			fs.IntVar(&apiRepeat, "api-repeat", 3, "api: drains of each kind (alone, unthrottled load, paced load); the median is reported")
			fs.IntVar(&apiDrainRate, "api-drain-rate", 2000, "api: requests per second of the paced load during a drain (0: no paced drains)")
		},
		positive: []string{"api-n", "api-drain-n", "api-clients", "api-for", "api-repeat"},
		quick:    map[string]string{"api-n": "10000", "api-drain-n": "5000"},
		run: func(ctx context.Context, b *bench, r *Results) bool {
			a, err := b.measureAPI(ctx)
			r.API = &a
			return b.ok("api", err, &a.Error)
		},
		tables:  apiTables,
		targets: apiTargets,
		check:   apiProblems,
	})
}

// APIResult is the read API scenario: a warehouse of Orders orders served
// by `orderflow dashboard`, loaded by Clients clients per endpoint, then
// drains of DrainOrders more orders with and without that load.
type APIResult struct {
	Orders    int       `json:"orders"`
	Users     int       `json:"users"` // distinct user ids /api/users/{id} picks from
	Clients   int       `json:"clients"`
	LoadForS  float64   `json:"load_for_s"`
	Endpoints []APILoad `json:"endpoints"`
	// HistoryS is trigger → lag 0 of the Orders orders of history.
	HistoryS     float64 `json:"history_s"`
	DrainOrders  int     `json:"drain_orders"`
	DrainRecords int     `json:"drain_records"` // of one drain
	// Drains are the timed drains: alone, under the mix of endpoints as
	// fast as the clients go, and at the paced rate; taking turns.
	Drains       []APIDrain `json:"drains"`
	DashboardLog string     `json:"dashboard_log,omitempty"`
	logged
	Error string `json:"error,omitempty"`
}

// APIDrain is one kind of timed drain, repeated.
type APIDrain struct {
	Load        string    `json:"load"`        // "none", "unthrottled" or "paced"
	RatePerS    int       `json:"rate_per_s"`  // the clients' requests per second together (0: no cap)
	WallS       []float64 `json:"wall_s"`      // trigger → lag 0, each run
	BusyBefore  []float64 `json:"busy_before"` // the machine's busy share over 1 s before each trigger
	MedianS     float64   `json:"median_s"`
	SlowdownPct float64   `json:"slowdown_pct"` // MedianS against the drains without load
	During      APILoad   `json:"during"`       // the requests served meanwhile (all runs)
}

// APILoad is one load phase: requests, their latencies and the dashboard's CPU.
type APILoad struct {
	Endpoint      string  `json:"endpoint"`
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"` // transport errors and answers other than 200
	FirstErr      string  `json:"first_error,omitempty"`
	DurationS     float64 `json:"duration_s"`
	ReqPerS       float64 `json:"req_per_s"`
	Latency       Latency `json:"latency"`
	DashboardCPUS float64 `json:"dashboard_cpu_s"`
}

func (b *bench) measureAPI(ctx context.Context) (r APIResult, err error) {
	b.log.Info("api: start", "n", apiN, "drain_n", apiDrainN, "clients", apiClients, "for", apiFor)
	r = APIResult{Orders: apiN, Clients: apiClients, LoadForS: apiFor.Seconds(), DrainOrders: apiDrainN}
	st, err := b.newStack(ctx, "api", func(c *config.Config) {
		c.Pipeline.ScheduleInterval = time.Hour // only the bench's triggers start runs
	})
	if err != nil {
		return r, err
	}
	defer st.close()
	// The warehouse: the drain scenario's history, drained. Its end lies far
	// enough back that the later drains' live orders, a second apart, stay in the past.
	clock := time.Now().UTC().Add(-2 * time.Duration(1+2*apiRepeat*apiDrainN) * time.Second).Truncate(time.Second)
	w := simulator.NewWorld(simulator.Options{Seed: b.o.seed, End: clock})
	if err := st.saveRefData(ctx, w); err != nil {
		return r, err
	}
	if err := st.startWorker(ctx); err != nil {
		return r, err
	}
	defer func() { r.logged = st.logged() }()
	var api *apiLoader
	// drain produces msgs and times trigger → lag 0; with d (not alone)
	// the clients load the API meanwhile.
	drain := func(msgs []simulator.Message, d *APIDrain) (float64, error) {
		if err := st.waitIdle(ctx); err != nil {
			return 0, err
		}
		busy := b.waitQuiet(ctx)
		if err := simulator.Produce(ctx, st.kcl, st.Config.Kafka.InputTopic, msgs, nil); err != nil {
			return 0, err
		}
		if d != nil && d.Load != "none" {
			lctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { api.load(lctx, &d.During, apiEndpoints, 0, d.RatePerS); close(done) }()
			defer func() { cancel(); <-done }()
		}
		t0 := time.Now()
		if err := starter.Trigger(ctx, b.tc, st.Config); err != nil {
			return 0, err
		}
		t1, err := st.waitLagZero(ctx, b.o.drainTimeout+time.Duration(len(msgs))*2*time.Millisecond, nil)
		if d != nil && err == nil {
			d.WallS, d.BusyBefore = append(d.WallS, t1.Sub(t0).Seconds()), append(d.BusyBefore, busy)
		}
		return t1.Sub(t0).Seconds(), err
	}
	if r.HistoryS, err = drain(w.History(apiN), nil); err != nil {
		return r, fmt.Errorf("drain the history: %w", err)
	}
	rows, _ := st.pool.Query(ctx, `SELECT user_id FROM dds.h_user`)
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if r.Users = len(users); err != nil || len(users) == 0 {
		return r, fmt.Errorf("no users in dds.h_user after the drain (%v)", err)
	}
	r.DashboardLog = st.logPath("dashboard")
	if api, err = st.startDashboard(ctx, users); err != nil {
		return r, err
	}
	defer api.stop()
	for _, ep := range apiEndpoints {
		var l APILoad
		api.load(ctx, &l, []string{ep}, apiFor, 0)
		r.Endpoints = append(r.Endpoints, l)
		b.log.Info("api: load", "endpoint", ep, "req_per_s", f(l.ReqPerS, 0), "p99_ms", f(l.Latency.P99Ms, 1))
	}
	r.Drains = []APIDrain{{Load: "none"}, {Load: "unthrottled"}, {Load: "paced", RatePerS: apiDrainRate}}
	for i := range apiRepeat {
		for k := range r.Drains {
			if d := &r.Drains[k]; d.Load != "paced" || d.RatePerS > 0 {
				more := make([]simulator.Message, 0, apiDrainN+apiDrainN/8)
				for range apiDrainN {
					clock = clock.Add(time.Second)
					more = append(more, w.Live(clock)...)
				}
				r.DrainRecords = len(more)
				s, err := drain(more, d)
				if err != nil {
					return r, err
				}
				b.log.Info("api: drain", "round", i+1, "load", d.Load, "wall_s", f(s, 2), "busy_before", pct(d.BusyBefore[i]))
			}
		}
	}
	for k := range r.Drains {
		if d := &r.Drains[k]; len(d.WallS) > 0 {
			d.MedianS = percentile(d.WallS, 50)
			d.SlowdownPct = (d.MedianS/r.Drains[0].MedianS - 1) * 100
		}
	}
	select {
	case <-api.done:
		return r, fmt.Errorf("the dashboard exited (log %s)", r.DashboardLog)
	default:
		return r, nil
	}
}

// waitIdle waits up to a minute until no run of the stack's schedules is in
// flight, so the next trigger is not skipped by the overlap policy.
func (st *stack) waitIdle(ctx context.Context) error {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		states, err := starter.States(ctx, st.b.tc, st.Config)
		if err != nil || !slices.ContainsFunc(states, func(s starter.ShardState) bool { return len(s.Running) > 0 }) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a run of the schedule still runs after a minute")
		}
	}
}

// apiPass is an endpoint's verdict: rate, p99 and no errors.
func apiPass(l APILoad) bool {
	return l.Errors == 0 && l.ReqPerS >= targetAPIReqPerS && l.Latency.P99Ms <= targetAPIP99Ms
}

// label names a drain's load.
func (d APIDrain) label(clients int) string {
	switch d.Load {
	case "none":
		return "alone"
	case "paced":
		return fmt.Sprintf("%d clients, %s req/s in all", clients, thousands(d.RatePerS))
	}
	return fmt.Sprintf("%d clients, unthrottled", clients)
}

// apiTargets are issue 12's goals: every endpoint's rate and p99, and the
// drain's slowdown under load (at the paced rate when measured).
func apiTargets(r Results) []Target {
	a, clients := r.API, 50
	if a != nil && a.Clients > 0 {
		clients = a.Clients
	}
	name := fmt.Sprintf("read API, each of %d endpoints at %d clients", len(apiEndpoints), clients)
	goal := fmt.Sprintf("≥ %s req/s, p99 ≤ %.0f ms", thousands(int(targetAPIReqPerS)), targetAPIP99Ms)
	name2, goal2 := "drain slowed by the read API under load", fmt.Sprintf("≤ %.0f %%", targetAPISlowdownPc)
	if a == nil || a.Error != "" || len(a.Endpoints) == 0 {
		return []Target{target(name, goal, "", false), target(name2, goal2, "", false)}
	}
	slow, worst := a.Endpoints[0], a.Endpoints[0]
	for _, l := range a.Endpoints {
		if l.ReqPerS < slow.ReqPerS {
			slow = l
		}
		if l.Latency.P99Ms > worst.Latency.P99Ms {
			worst = l
		}
	}
	ts := []Target{target(name, goal, fmt.Sprintf("lowest %s req/s (%s), highest p99 %s ms (%s)", f(slow.ReqPerS, 0), slow.Endpoint, f(worst.Latency.P99Ms, 1), worst.Endpoint),
		!slices.ContainsFunc(a.Endpoints, func(l APILoad) bool { return !apiPass(l) }))}
	var d *APIDrain
	for k := range a.Drains {
		if x := &a.Drains[k]; x.Load != "none" && len(x.WallS) > 0 && (d == nil || x.Load == "paced") {
			d = x
		}
	}
	if d == nil {
		return append(ts, target(name2, goal2, "", false))
	}
	return append(ts, target(name2+" ("+d.label(a.Clients)+")", goal2,
		fmt.Sprintf("%+.1f %% (median %s s → %s s, N=%s each)", d.SlowdownPct, f(a.Drains[0].MedianS, 2), f(d.MedianS, 2), thousands(a.DrainOrders)), d.SlowdownPct <= targetAPISlowdownPc))
}

func apiProblems(r Results) (p, w []string) {
	a := r.API
	if a == nil {
		return nil, nil
	}
	p, w = trouble("api", a.Error, 0, a.logged)
	failed := func(l APILoad) {
		if l.Errors > 0 {
			w = append(w, fmt.Sprintf("api: %s: %d of %d requests failed, e.g. %s", l.Endpoint, l.Errors, l.Requests, l.FirstErr))
		}
	}
	for _, l := range a.Endpoints {
		failed(l)
	}
	for _, d := range a.Drains {
		failed(d.During)
	}
	return p, w
}

func apiTables(r Results) []table {
	a := r.API
	if a == nil {
		return nil
	}
	t := table{title: fmt.Sprintf("Read API: orderflow dashboard over N=%s orders (%s users), %d keep-alive clients, %s s per endpoint",
		thousands(a.Orders), thousands(a.Users), a.Clients, f(a.LoadForS, 0)),
		head: []string{"endpoint", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "dashboard CPU s", "target"}}
	if a.Error != "" {
		t.add("FAILED", a.Error)
		return []table{t}
	}
	row := func(name string, l APILoad, target string) {
		t.add(name, thousands(l.Requests), f(l.ReqPerS, 0), f(l.Latency.P50Ms, 1), f(l.Latency.P99Ms, 1), f(l.Latency.MaxMs, 1), fmt.Sprint(l.Errors), f(l.DashboardCPUS, 1), target)
	}
	for _, l := range a.Endpoints {
		row(l.Endpoint, l, map[bool]string{true: "pass", false: "miss"}[apiPass(l)])
	}
	d := table{title: fmt.Sprintf("Drain of %s more orders (%s records) with and without that load, alternated", thousands(a.DrainOrders), thousands(a.DrainRecords)),
		head: []string{"API load", "runs s", "median s", "slowdown", "busy before"}}
	for _, x := range a.Drains {
		if x.During.Requests > 0 {
			row("mix during drains, "+x.label(a.Clients), x.During, "-")
		}
		if len(x.WallS) == 0 {
			continue
		}
		var walls, busy []string
		for _, s := range x.WallS {
			walls = append(walls, f(s, 2))
		}
		for _, b := range x.BusyBefore {
			busy = append(busy, pct(b))
		}
		slow := fmt.Sprintf("%+.1f%%", x.SlowdownPct)
		if x.Load == "none" {
			slow = ""
		}
		d.add(x.label(a.Clients), strings.Join(walls, ", "), f(x.MedianS, 2), slow, strings.Join(busy, ", "))
	}
	t.notes = []string{fmt.Sprintf("Clients run in the bench process on the same machine; /api/users/{id} picks one of the warehouse's users at random per request (the first request for each id after a refresh of the marts reads the warehouse); mix: the four endpoints in turn, while the drains below ran. Target: ≥ %s req/s and p99 ≤ %.0f ms, no errors.",
		thousands(int(targetAPIReqPerS)), targetAPIP99Ms)}
	d.notes = []string{fmt.Sprintf("Trigger → lag 0 of live orders on top of the warehouse (its %s orders of history drained in %s s); the kinds take turns, so each sees the same warehouse growth. Target ≤ %.0f %% slower (at the paced rate).",
		thousands(a.Orders), f(a.HistoryS, 1), targetAPISlowdownPc)}
	return []table{t, d}
}
