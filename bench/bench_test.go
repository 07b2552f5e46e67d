package main

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	xs := []float64{40, 10, 30, 20, 50} // unsorted on purpose
	for _, c := range []struct{ p, want float64 }{
		{0, 10}, {50, 30}, {100, 50}, {25, 20}, {90, 46}, {99, 49.6}, {-5, 10}, {150, 50},
	} {
		if got := percentile(xs, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", xs, c.p, got, c.want)
		}
	}
	if xs[0] != 40 {
		t.Error("percentile sorted its input in place")
	}
	if got := percentile([]float64{7}, 99); got != 7 {
		t.Errorf("percentile of one value = %v, want 7", got)
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile of nothing = %v, want NaN", got)
	}
}

func TestTableMarkdown(t *testing.T) {
	tb := table{title: "T", head: []string{"a", "b", "c", "d"}, notes: []string{"a note"}}
	tb.add("x|y", "1", "ok") // a pipe to escape, a text column, a missing cell
	tb.add("z", "99.5%", "-")
	want := "**T**\n\n| a | b | c | d |\n|---|---:|---|---:|\n| x\\|y | 1 | ok |  |\n| z | 99.5% | - |  |\n\na note\n"
	if got := tb.markdown(false); got != want {
		t.Errorf("markdown(false) =\n%q\nwant\n%q", got, want)
	}
	tb = table{head: []string{"name", "value"}}
	tb.add("short", "1")
	tb.add("≤ wide", "12,345")
	want = "| name   |  value |\n|--------|-------:|\n| short  |      1 |\n| ≤ wide | 12,345 |\n"
	if got := tb.markdown(true); got != want {
		t.Errorf("markdown(true) =\n%s\nwant\n%s", got, want)
	}
}

func TestIntsFlag(t *testing.T) {
	var v ints
	if err := v.Set("10_000, 50000,"); err != nil || v.String() != "10000,50000" {
		t.Errorf("Set = %v, %v", v, err)
	}
	if err := v.Set("0"); err == nil {
		t.Error("0 accepted")
	}
}

func TestParseFlagsQuick(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-sweep-n", "20000", "-scenarios", "drain,api"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.scenarios["drain"] || !o.scenarios["api"] || o.scenarios["steady"] || len(drainNs) != 1 || drainNs[0] != 10000 || sweepN != 20000 || apiDrainN != 5000 {
		t.Errorf("scenarios %v, n %v, sweep-n %d, api-drain-n %d", o.scenarios, drainNs, sweepN, apiDrainN)
	}
	if _, err := parseFlags([]string{"-scenarios", "nope"}); err == nil {
		t.Error("an unknown scenario was accepted")
	}
	if _, err := parseFlags([]string{"-steady-every", "0s"}); err == nil {
		t.Error("-steady-every 0 was accepted")
	}
}

// TestRenderCommitted renders the committed results (an older format must
// keep reading) and looks for numbers docs/BENCHMARKS.md cites.
func TestRenderCommitted(t *testing.T) {
	b, err := os.ReadFile("results.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	judge(&r)
	md := r.report(false)
	// Every scenario of the default set rendered its tables, and the
	// targets table judged them.
	for _, want := range []string{"**Drain: N orders", "**Per activity, N=50,000", "**Steady state", "**Targets", "| 50,000 orders end to end |"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if len(r.Problems) > 0 {
		t.Errorf("problems %q", r.Problems)
	}
	// The committed tables are what the committed results render to (run
	// `go run ./bench -from bench/results.json -doc docs/BENCHMARKS.md`).
	doc, err := os.ReadFile("../docs/BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceBlock(string(doc), md)
	if err != nil {
		t.Fatal(err)
	}
	if want != string(doc) {
		t.Error("docs/BENCHMARKS.md's generated tables differ from what bench/results.json renders to")
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 200000: "200,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := f(12345.6, 0); got != "12,346" {
		t.Errorf("f(12345.6, 0) = %q", got)
	}
	if got := f(math.NaN(), 1); got != "-" {
		t.Errorf("f(NaN) = %q", got)
	}
	if got := pct(0.1234); got != "12.3%" {
		t.Errorf("pct(0.1234) = %q", got)
	}
}

func TestProcParsing(t *testing.T) {
	// A command with spaces and a parenthesis; utime 250 stime 50 cutime 7 cstime 3 ticks.
	stat := []byte("4242 (we) ird (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 9 0 123 456 789\n")
	fs, err := statFields(stat)
	if err != nil {
		t.Fatal(err)
	}
	if fs[0] != "S" || fs[1] != "1" || fs[11] != "250" || fs[12] != "50" {
		t.Errorf("fields %v", fs[:13])
	}
	if _, err := statFields([]byte("1 (x) S 1")); err == nil {
		t.Error("a short stat line parsed")
	}
	status := []byte("Name:\tworker\nVmPeak:\t 999 kB\nVmHWM:\t   204800 kB\nVmRSS:\t   102400 kB\nThreads:\t9\n")
	peak, rss, err := parseStatusMem(status)
	if err != nil || peak != 200*mib || rss != 100*mib {
		t.Errorf("parseStatusMem = %d, %d, %v; want 200 MiB, 100 MiB", peak, rss, err)
	}
	if _, _, err := parseStatusMem([]byte("Name:\tx\n")); err == nil {
		t.Error("a status without VmHWM parsed")
	}
}

func TestUsage(t *testing.T) {
	t0 := time.Now()
	a := cpuSnapshot{at: t0, worker: time.Second, postgres: map[int]time.Duration{10: time.Second, 11: 2 * time.Second},
		machineBusy: 10 * time.Second, machineAll: 20 * time.Second}
	b := cpuSnapshot{at: t0.Add(2 * time.Second), worker: 2 * time.Second, postgres: map[int]time.Duration{10: 1500 * time.Millisecond, 12: 250 * time.Millisecond},
		machineBusy: 13 * time.Second, machineAll: 24 * time.Second}
	u := usage(a, b)
	if u.WindowS != 2 || u.WorkerS != 1 || u.PostgresS != 0.75 || u.MachineBusy != 0.75 || u.OtherS != 1.25 {
		t.Errorf("usage = %+v", u)
	}
}

func TestReplaceBlock(t *testing.T) {
	doc := "# B\n\nintro\n\n" + docBegin + "\nold\n" + docEnd + "\n\nanalysis\n"
	got, err := replaceBlock(doc, "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# B\n\nintro\n\n" + docBegin + "\n\nnew table\n\n" + docEnd + "\n\nanalysis\n"
	if got != want {
		t.Errorf("replaceBlock =\n%s\nwant\n%s", got, want)
	}
	if _, err := replaceBlock("no markers", "x"); err == nil {
		t.Error("a document without markers was accepted")
	}
}

func TestEvaluateTargets(t *testing.T) {
	d := func(n int, wall, rss float64) DrainResult {
		return DrainResult{Orders: n, BatchSize: 100, DrainBatchSize: 20000, Shards: 1, WallS: wall,
			MsPer1kOrders: wall * 1e6 / float64(n), WorkerPeakRSSMiB: rss}
	}
	r := Results{
		Drain:  []DrainResult{d(10000, 4, 90), d(50000, 15, 150), d(200000, 110, 320)},
		Steady: &SteadyResult{IntervalS: 5, CommitLatency: Latency{Count: 50, P99Ms: 6500}, WorkerPeakRSSMiB: 80},
	}
	got := map[string]string{}
	judge(&r)
	for _, tg := range r.Targets {
		got[tg.Name] = tg.Result
	}
	want := map[string]string{
		"50,000 orders end to end":                       "pass",
		"steady-state p99, produced → marts":             "pass",
		"worker RSS at default batch size":               "pass",
		"worker RSS while draining (drain batch 20,000)": "miss", // 320 MiB at N=200,000
		"time per order flat across N":                   "miss", // 550 vs 400 ms per 1k
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("target %q: %q, want %q", k, got[k], v)
		}
	}
	if res := drainTargets(Results{}); res[0].Result != "not measured" {
		t.Errorf("without results: %+v", res[0])
	}
}

func TestFlatTargetLooksInsideTheLargestDrain(t *testing.T) {
	d := func(n int, wall float64) DrainResult {
		return DrainResult{Orders: n, BatchSize: 100, DrainBatchSize: 20000, Shards: 1, WallS: wall, MsPer1kOrders: wall * 1e6 / float64(n)}
	}
	big := d(100000, 100)
	big.Breakdown.PerRun = []RunSummary{{Records: 100, WallMs: 5000}} // the first, partial batch is left out
	for i := range 8 {
		big.Breakdown.PerRun = append(big.Breakdown.PerRun, RunSummary{Records: 20000, WallMs: float64(20 * (800 + 100*i))})
	}
	first, last, ok := quarterGrowth(big, "")
	if !ok || first != 850 || last != 1450 {
		t.Fatalf("quarterGrowth = %v, %v, %v; want 850, 1450, true", first, last, ok)
	}
	ts := drainTargets(Results{Drain: []DrainResult{d(10000, 10), big}})
	i := slices.IndexFunc(ts, func(t Target) bool { return t.Name == "time per order flat across N" })
	if i < 0 {
		t.Fatalf("no flat target in %+v", ts)
	}
	flat := ts[i]
	if flat.Result != "miss" || !strings.Contains(flat.Measured, "1.00×") || !strings.Contains(flat.Measured, "1.71×") {
		t.Errorf("flat target = %+v, want a miss: 1.00× across N but 1.71× inside the drain", flat)
	}
}

func TestCPUByQuarter(t *testing.T) {
	// 1,000 records; the first 250 cost 1 s of worker CPU, the last 250 cost 2 s.
	samples := []Sample{
		{AtS: 1, Done: 100, WorkerS: 0.4, PostgresS: 1},
		{AtS: 2, Done: 250, WorkerS: 1, PostgresS: 2, OtherS: 0.5},
		{AtS: 3, Done: 500, WorkerS: 2, PostgresS: 4, OtherS: 0.5},
		{AtS: 4, Done: 750, WorkerS: 3, PostgresS: 6, OtherS: 0.5},
		{AtS: 5, Done: 1000, WorkerS: 5, PostgresS: 9, OtherS: 3},
	}
	first, last, ok := cpuByQuarter(samples, 1000)
	if !ok {
		t.Fatal("not ok")
	}
	if first != [3]float64{4000, 8000, 2000} || last != [3]float64{8000, 12000, 10000} {
		t.Errorf("cpuByQuarter = %v, %v; want worker, Postgres, other 4000, 8000, 2000 and 8000, 12000, 10000", first, last)
	}
	if _, _, ok := cpuByQuarter(samples[3:], 1000); ok {
		t.Error("two samples were enough")
	}
}

func TestProblemsAndWarnings(t *testing.T) {
	ok := DrainResult{Orders: 10, DrainBatchSize: 20000, Shards: 1}
	ok.Consistency.OK = true
	retried := ok
	retried.Shards = 2
	retried.Breakdown.Retries = 1
	retried.WorkerErrors = 1
	retried.LogSample = []string{"ERROR Activity error. LoadStg deadlock detected"}
	bad := ok
	bad.DrainBatchSize = 1000
	bad.Consistency.OK, bad.Consistency.Detail = false, "stg orders 3, want 4"
	p, w := drainProblems(Results{Drain: []DrainResult{ok, bad}, Shards: []DrainResult{ok, retried}})
	if len(p) != 1 || !strings.Contains(p[0], "MARTS MISMATCH: stg orders 3, want 4") {
		t.Errorf("problems = %q, want the mismatch only", p)
	}
	if len(w) != 2 || !strings.Contains(w[1], "deadlock") {
		t.Errorf("warnings = %q, want the retry and the logged error", w)
	}
}

func TestAPITargets(t *testing.T) {
	ok := func(ep string, rps, p99 float64) APILoad {
		return APILoad{Endpoint: ep, Requests: 100, ReqPerS: rps, Latency: Latency{Count: 100, P99Ms: p99}}
	}
	a := &APIResult{Clients: 50, Drains: []APIDrain{{Load: "none", WallS: []float64{4}, MedianS: 4},
		{Load: "unthrottled", WallS: []float64{9}, MedianS: 9, SlowdownPct: 125}, {Load: "paced", RatePerS: 2000, WallS: []float64{4.2}, MedianS: 4.2, SlowdownPct: 5}},
		Endpoints: []APILoad{ok("/api/tags", 9000, 10), ok("/api/users/{id}", 2500, 30)}}
	ts := apiTargets(Results{API: a})
	if len(ts) != 2 || ts[0].Result != "pass" || ts[1].Result != "pass" {
		t.Fatalf("apiTargets = %+v, want two passes", ts)
	}
	a.Endpoints[1].Latency.P99Ms, a.Drains[2].SlowdownPct = 60, 12
	ts = apiTargets(Results{API: a})
	if ts[0].Result != "miss" || ts[1].Result != "miss" || !strings.Contains(ts[0].Measured, "/api/users/{id}") {
		t.Errorf("apiTargets = %+v, want two misses naming the slow endpoint", ts)
	}
	if ts := apiTargets(Results{}); ts[0].Result != "not measured" {
		t.Errorf("apiTargets without the scenario = %+v", ts)
	}
	if len(apiTables(Results{API: a})) != 2 {
		t.Error("want the load and the drain table")
	}
}
