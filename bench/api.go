package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/starter"
)

// The targets of issue 12 (reported, never failing the bench).
const (
	targetAPIReqPerS    = 2000.0
	targetAPIP99Ms      = 50.0
	targetAPISlowdownPc = 10.0
)

// apiEndpoints are the read API's paths under load; usersPath gets a user id.
var apiEndpoints = []string{"/api/tags", "/api/top/products", "/api/top/categories", usersPath}

const usersPath = "/api/users/{id}"

// APIResult is the read API scenario: a warehouse of Orders orders served
// by `orderflow dashboard`, loaded by Clients clients per endpoint, then
// drains of DrainOrders more orders with and without that load.
type APIResult struct {
	Orders    int       `json:"orders"`
	Users     int       `json:"users"` // distinct user ids /api/users/{id} picks from
	Clients   int       `json:"clients"`
	LoadForS  float64   `json:"load_for_s"`
	Endpoints []APILoad `json:"endpoints"`

	// HistoryS is trigger → lag 0 of the Orders orders of history (the
	// drain scenario's measure, for comparison).
	HistoryS     float64 `json:"history_s"`
	DrainOrders  int     `json:"drain_orders"`
	DrainRecords int     `json:"drain_records"` // of one drain
	// Drains are the timed drains: alone, then under the mix of endpoints
	// as fast as the clients go, then at the paced rate; alternated.
	Drains []APIDrain `json:"drains"`

	DashboardLog string `json:"dashboard_log,omitempty"`
	WorkerLog    string `json:"worker_log,omitempty"`
	WorkerErrors int    `json:"worker_errors"`
	Error        string `json:"error,omitempty"`
}

// APIDrain is one kind of timed drain, repeated.
type APIDrain struct {
	Load string `json:"load"` // "none", "unthrottled" or "paced"
	// RatePerS caps the clients' requests per second together (0: none).
	RatePerS   int       `json:"rate_per_s"`
	WallS      []float64 `json:"wall_s"`      // trigger → lag 0, each run
	BusyBefore []float64 `json:"busy_before"` // the machine's busy share over 1 s before each trigger
	MedianS    float64   `json:"median_s"`
	// SlowdownPct is MedianS against the drains without load.
	SlowdownPct float64 `json:"slowdown_pct"`
	During      APILoad `json:"during"` // the requests served meanwhile (all runs)
	lat         []float64
}

// APILoad is one load phase: requests, their latencies and the dashboard's CPU.
type APILoad struct {
	Endpoint  string  `json:"endpoint"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"` // transport errors and answers other than 200
	FirstErr  string  `json:"first_error,omitempty"`
	DurationS float64 `json:"duration_s"`
	ReqPerS   float64 `json:"req_per_s"`
	Latency   Latency `json:"latency"`
	// DashboardCPUS is the dashboard process's CPU seconds over the phase.
	DashboardCPUS float64 `json:"dashboard_cpu_s"`
}

func (b *bench) runAPI(ctx context.Context) APIResult {
	b.s.log.Info("api: start", "n", b.o.apiN, "drain_n", b.o.apiDrainN, "clients", b.o.apiClients, "for", b.o.apiFor)
	r, err := b.measureAPI(ctx)
	if err != nil {
		r.Error = err.Error()
		b.s.log.Error("api failed", "err", err)
	} else {
		b.s.log.Info("api: done")
	}
	return r
}

func (b *bench) measureAPI(ctx context.Context) (r APIResult, err error) {
	o := b.o
	r = APIResult{Orders: o.apiN, Clients: o.apiClients, LoadForS: o.apiFor.Seconds(), DrainOrders: o.apiDrainN}
	st, err := b.s.newStack(ctx, "api", func(c *config.Config) {
		// Only the bench's triggers start runs, so each drain is timed from its trigger.
		c.Pipeline.ScheduleInterval = time.Hour
	})
	if err != nil {
		return r, err
	}
	defer st.close()

	// The warehouse: the drain scenario's history, drained. Its End lies
	// far enough back that the later drains' orders (Live, one a second)
	// stay in the past.
	clock := time.Now().UTC().Add(-2 * time.Duration(1+2*o.apiRepeat*o.apiDrainN) * time.Second).Truncate(time.Second)
	w := simulator.NewWorld(simulator.Options{Seed: o.seed, End: clock})
	msgs := w.History(o.apiN)
	if err := b.saveRefData(ctx, st, w); err != nil {
		return r, err
	}
	if err := st.startWorker(ctx); err != nil {
		return r, err
	}
	defer func() { _, r.WorkerErrors, _ = st.worker.LogCounts(); r.WorkerLog = st.workerLog() }()
	if _, err := starter.Ensure(ctx, b.s.tc, st.cfg); err != nil {
		return r, err
	}
	// more is the next drain's orders: live ones, a second apart.
	more := func() []simulator.Message {
		batch := make([]simulator.Message, 0, o.apiDrainN+o.apiDrainN/8)
		for range o.apiDrainN {
			clock = clock.Add(time.Second)
			batch = append(batch, w.Live(clock)...)
		}
		r.DrainRecords = len(batch)
		return batch
	}
	// drain produces msgs, starts load (if any) and times trigger → lag 0.
	var busy float64 // the machine before the last drain
	drain := func(msgs []simulator.Message, load func() (stop func())) (float64, error) {
		if err := st.waitIdle(ctx); err != nil {
			return 0, err
		}
		busy = b.waitQuiet(ctx)
		if err := simulator.Produce(ctx, st.kcl, st.cfg.Kafka.InputTopic, msgs, nil); err != nil {
			return 0, err
		}
		stop := func() {}
		if load != nil {
			stop = load()
		}
		defer stop()
		t0 := time.Now()
		if err := starter.Trigger(ctx, b.s.tc, st.cfg); err != nil {
			return 0, err
		}
		t1, err := st.waitLagZero(ctx, o.drainTimeout+time.Duration(len(msgs))*2*time.Millisecond, nil)
		if err != nil {
			return 0, err
		}
		return t1.Sub(t0).Seconds(), nil
	}
	if r.HistoryS, err = drain(msgs, nil); err != nil {
		return r, fmt.Errorf("drain the history: %w", err)
	}

	rows, err := st.pool.Query(ctx, `SELECT user_id FROM dds.h_user`)
	if err != nil {
		return r, err
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, err
	}
	if len(users) == 0 {
		return r, fmt.Errorf("no users in dds.h_user after the drain")
	}
	r.Users = len(users)

	dash, base, err := st.startDashboard(ctx)
	if err != nil {
		return r, err
	}
	defer dash.stop()
	r.DashboardLog = dash.log

	for _, ep := range apiEndpoints {
		l, _ := loadAPI(ctx, base, []string{ep}, users, o.apiClients, o.apiFor, 0, dash.pid)
		r.Endpoints = append(r.Endpoints, l)
		b.s.log.Info("api: load", "endpoint", ep, "req_per_s", round(r.Endpoints[len(r.Endpoints)-1].ReqPerS, 0),
			"p99_ms", round(r.Endpoints[len(r.Endpoints)-1].Latency.P99Ms, 1))
	}

	r.Drains = []APIDrain{{Load: "none"}, {Load: "unthrottled"}, {Load: "paced", RatePerS: o.apiDrainRate}}
	for i := range o.apiRepeat {
		for k := range r.Drains {
			d := &r.Drains[k]
			if d.Load == "paced" && d.RatePerS <= 0 {
				continue
			}
			var load func() func()
			if d.Load != "none" {
				load = func() func() {
					done := make(chan struct{})
					lctx, cancel := context.WithCancel(ctx)
					go func() {
						defer close(done)
						l, lat := loadAPI(lctx, base, apiEndpoints, users, o.apiClients, 0, d.RatePerS, dash.pid)
						d.lat = append(d.lat, lat...)
						d.During = mergeLoads(d.During, l, d.lat)
					}()
					return func() { cancel(); <-done }
				}
			}
			s, err := drain(more(), load)
			if err != nil {
				return r, err
			}
			d.WallS, d.BusyBefore = append(d.WallS, s), append(d.BusyBefore, busy)
			b.s.log.Info("api: drain", "round", i+1, "load", d.Load, "wall_s", round(s, 2), "busy_before", pct(busy))
		}
	}
	for k := range r.Drains {
		d := &r.Drains[k]
		if len(d.WallS) > 0 {
			d.MedianS = percentile(d.WallS, 50)
			d.SlowdownPct = (d.MedianS/r.Drains[0].MedianS - 1) * 100
		}
		d.lat = nil
	}
	if dash.exited() {
		return r, fmt.Errorf("the dashboard exited (log %s)", dash.log)
	}
	return r, nil
}

// waitIdle waits until no run of the stack's schedules is running, so the
// next trigger is not skipped by the overlap policy.
func (st *stack) waitIdle(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		busy := false
		for _, id := range starter.ScheduleIDs(st.cfg) {
			d, err := st.s.tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
			if err != nil {
				return fmt.Errorf("describe schedule %s: %w", id, err)
			}
			busy = busy || len(d.Info.RunningWorkflows) > 0
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a run of the schedule still runs after a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dashboardProc is a running `orderflow dashboard`.
type dashboardProc struct {
	cmd  *exec.Cmd
	pid  int
	log  string
	done chan struct{}
}

func (d *dashboardProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 10 s, then kills the process.
func (d *dashboardProc) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// startDashboard runs `bin/orderflow dashboard` with the stack's
// configuration on a free port and waits until /api/tags answers 200.
func (st *stack) startDashboard(ctx context.Context) (*dashboardProc, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := st.cfg
	cfg.DashboardAddr = addr
	d := &dashboardProc{log: filepath.Join(st.s.logDir, st.name+"-dashboard.log"), done: make(chan struct{})}
	f, err := os.Create(d.log)
	if err != nil {
		return nil, "", err
	}
	d.cmd = exec.Command(st.s.opts.bin, "dashboard")
	d.cmd.Env = testenv.WorkerEnv(cfg)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("start %s dashboard: %w", st.s.opts.bin, err)
	}
	d.pid = d.cmd.Process.Pid
	go func() { _ = d.cmd.Wait(); f.Close(); close(d.done) }()
	base := "http://" + addr
	// Ready once /api/tags answers from the cache (the same read time
	// twice): the listener for the marts' refreshes is connected.
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		resp, err := http.Get(base + "/api/tags")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			at := resp.Header.Get("X-Orderflow-Read-At")
			if resp.StatusCode == http.StatusOK && at != "" && at == last {
				return d, base, nil
			}
			last = at
		}
		if d.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			d.stop()
			return nil, "", fmt.Errorf("the dashboard did not answer /api/tags from its cache within 30 s (log %s)", d.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loadAPI runs clients concurrent clients (keep-alive) against base for
// paths (each client takes the next path in turn; usersPath gets a random
// user id each time) for the duration, or until ctx ends when it is 0; with
// rate > 0 the clients together start at most rate requests a second.
func loadAPI(ctx context.Context, base string, paths, users []string, clients int, duration time.Duration, rate, dashPID int) (APILoad, []float64) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	type clientResult struct {
		lat      []float64
		errs     int
		firstErr string
	}
	res := make([]clientResult, clients)
	var tokens chan struct{}
	if rate > 0 { // every 10 ms, rate/100 requests may start
		tokens = make(chan struct{}, clients)
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			carry := 0.0
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				carry += float64(rate) / 100
				for ; carry >= 1; carry-- {
					select {
					case tokens <- struct{}{}:
					default: // the clients are behind: the surplus is dropped
					}
				}
			}
		}()
	}
	cpu0, _ := procCPU(dashPID, false)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(c), 12))
			cr := &res[c]
			for i := c; ctx.Err() == nil; i++ {
				if tokens != nil {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
					}
				}
				p := paths[i%len(paths)]
				if p == usersPath {
					p = "/api/users/" + users[rnd.IntN(len(users))]
				}
				t0 := time.Now()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
				if err != nil {
					panic(err)
				}
				resp, err := hc.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: HTTP %d", p, resp.StatusCode)
					}
				}
				if ctx.Err() != nil { // cut off by the end of the phase: not counted
					return
				}
				if err != nil {
					if cr.errs++; cr.firstErr == "" {
						cr.firstErr = err.Error()
					}
					continue
				}
				cr.lat = append(cr.lat, ms(time.Since(t0)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := procCPU(dashPID, false)
	l := APILoad{Endpoint: paths[0], DurationS: elapsed.Seconds(), DashboardCPUS: (cpu1 - cpu0).Seconds()}
	if len(paths) > 1 {
		l.Endpoint = "mix"
	}
	var all []float64
	for _, cr := range res {
		all = append(all, cr.lat...)
		l.Errors += cr.errs
		if l.FirstErr == "" {
			l.FirstErr = cr.firstErr
		}
	}
	l.Requests = len(all) + l.Errors
	l.ReqPerS = float64(len(all)) / elapsed.Seconds()
	l.Latency = latencies(all)
	return l, all
}

// mergeLoads adds phase l to m; lat are the latencies of both.
func mergeLoads(m, l APILoad, lat []float64) APILoad {
	m.Endpoint = l.Endpoint
	m.Requests += l.Requests
	m.Errors += l.Errors
	m.DurationS += l.DurationS
	m.DashboardCPUS += l.DashboardCPUS
	if m.FirstErr == "" {
		m.FirstErr = l.FirstErr
	}
	m.Latency = latencies(lat)
	m.ReqPerS = float64(len(lat)) / max(m.DurationS, 1e-9)
	return m
}

// apiTargets are issue 12's goals: every endpoint's rate and p99, and the
// drain's slowdown under load.
func apiTargets(a *APIResult) []Target {
	name := fmt.Sprintf("read API, each of %d endpoints at %d clients", len(apiEndpoints), targetClients(a))
	goal := fmt.Sprintf("≥ %s req/s, p99 ≤ %.0f ms", thousands(int(targetAPIReqPerS)), targetAPIP99Ms)
	name2, goal2 := "drain slowed by the read API under load", fmt.Sprintf("≤ %.0f %%", targetAPISlowdownPc)
	if a == nil || a.Error != "" || len(a.Endpoints) == 0 {
		return []Target{
			{name, goal, "-", "not measured"},
			{name2, goal2, "-", "not measured"},
		}
	}
	pass := true
	slow, worst := a.Endpoints[0], a.Endpoints[0]
	for _, l := range a.Endpoints {
		pass = pass && l.Errors == 0 && l.ReqPerS >= targetAPIReqPerS && l.Latency.P99Ms <= targetAPIP99Ms
		if l.ReqPerS < slow.ReqPerS {
			slow = l
		}
		if l.Latency.P99Ms > worst.Latency.P99Ms {
			worst = l
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "miss"
	}
	measured := fmt.Sprintf("lowest %s req/s (%s), highest p99 %s ms (%s)", f(slow.ReqPerS, 0), slow.Endpoint, f(worst.Latency.P99Ms, 1), worst.Endpoint)
	ts := []Target{{name, goal, measured, verdict(pass)}}
	// The slowdown counts at the paced rate when measured, else unthrottled.
	var d *APIDrain
	for k := range a.Drains {
		if x := &a.Drains[k]; x.Load != "none" && len(x.WallS) > 0 && (d == nil || x.Load == "paced") {
			d = x
		}
	}
	if d == nil {
		return append(ts, Target{name2, goal2, "-", "not measured"})
	}
	name2 += " (" + d.label(a.Clients) + ")"
	measured = fmt.Sprintf("%+.1f %% (median %s s → %s s, N=%s each)", d.SlowdownPct, f(a.Drains[0].MedianS, 2), f(d.MedianS, 2), thousands(a.DrainOrders))
	return append(ts, Target{name2, goal2, measured, verdict(d.SlowdownPct <= targetAPISlowdownPc)})
}

// label names the drain's load.
func (d APIDrain) label(clients int) string {
	switch d.Load {
	case "none":
		return "alone"
	case "paced":
		return fmt.Sprintf("%d clients, %s req/s in all", clients, thousands(d.RatePerS))
	}
	return fmt.Sprintf("%d clients, unthrottled", clients)
}

func targetClients(a *APIResult) int {
	if a == nil || a.Clients == 0 {
		return 50
	}
	return a.Clients
}

// apiTables render the api scenario.
func apiTables(a APIResult) []table {
	t := table{
		Title: fmt.Sprintf("Read API: orderflow dashboard over N=%s orders (%s users), %d keep-alive clients, %s s per endpoint",
			thousands(a.Orders), thousands(a.Users), a.Clients, f(a.LoadForS, 0)),
		Head: []string{"endpoint", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "dashboard CPU s", "target"},
	}
	if a.Error != "" {
		t.add("FAILED", a.Error)
		return []table{t}
	}
	row := func(l APILoad, target string) {
		t.add(l.Endpoint, thousands(l.Requests), f(l.ReqPerS, 0), f(l.Latency.P50Ms, 1), f(l.Latency.P99Ms, 1), f(l.Latency.MaxMs, 1),
			strconv.Itoa(l.Errors), f(l.DashboardCPUS, 1), target)
	}
	for _, l := range a.Endpoints {
		ok := l.Errors == 0 && l.ReqPerS >= targetAPIReqPerS && l.Latency.P99Ms <= targetAPIP99Ms
		row(l, map[bool]string{true: "pass", false: "miss"}[ok])
	}
	for _, d := range a.Drains {
		if d.During.Requests > 0 {
			l := d.During
			l.Endpoint = "mix during drains, " + d.label(a.Clients)
			row(l, "-")
		}
	}
	t.Notes = []string{fmt.Sprintf("Clients run in the bench process on the same machine; /api/users/{id} picks one of the warehouse's users at random per request (the first request for each id after a refresh of the marts reads the warehouse); mix: the four endpoints in turn, while the drains below ran. Target: ≥ %s req/s and p99 ≤ %.0f ms, no errors.",
		thousands(int(targetAPIReqPerS)), targetAPIP99Ms)}

	d := table{
		Title: fmt.Sprintf("Drain of %s more orders (%s records) with and without that load, alternated", thousands(a.DrainOrders), thousands(a.DrainRecords)),
		Head:  []string{"API load", "runs s", "median s", "slowdown", "busy before"},
	}
	list := func(xs []float64) string {
		var ss []string
		for _, x := range xs {
			ss = append(ss, f(x, 2))
		}
		return strings.Join(ss, ", ")
	}
	for _, x := range a.Drains {
		if len(x.WallS) == 0 {
			continue
		}
		slow, busy := "", make([]string, len(x.BusyBefore))
		if x.Load != "none" {
			slow = fmt.Sprintf("%+.1f%%", x.SlowdownPct)
		}
		for i, b := range x.BusyBefore {
			busy[i] = pct(b)
		}
		d.add(x.label(a.Clients), list(x.WallS), f(x.MedianS, 2), slow, strings.Join(busy, ", "))
	}
	d.Notes = []string{fmt.Sprintf("Trigger → lag 0 of live orders on top of the warehouse (its %s orders of history drained in %s s); the kinds take turns, so each sees the same warehouse growth. Target ≤ %.0f %% slower (at the paced rate).",
		thousands(a.Orders), f(a.HistoryS, 1), targetAPISlowdownPc)}
	return []table{t, d}
}
