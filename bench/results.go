package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Results is everything one bench invocation measured; it is written to
// bench/results.json and every table is rendered from it.
type Results struct {
	Command   string        `json:"command"`
	Started   time.Time     `json:"started"`
	DurationS float64       `json:"duration_s"`
	Quick     bool          `json:"quick"`
	Machine   Machine       `json:"machine"`
	Drain     []DrainResult `json:"drain,omitempty"`
	Sweep     []DrainResult `json:"sweep,omitempty"`
	Steady    *SteadyResult `json:"steady,omitempty"`
	// Shards holds the one-shard baseline and the sharded run of the same N.
	Shards []DrainResult `json:"shards,omitempty"`
	API    *APIResult    `json:"api,omitempty"`
	// Extra holds the results of scenarios added since, by scenario name
	// (put and get), so that a new scenario is one file.
	Extra   map[string]json.RawMessage `json:"extra,omitempty"`
	Targets []Target                   `json:"targets"`
	// Problems fail the bench (a scenario failed, marts disagree with the
	// oracle); Warnings do not (retried activities, errors the worker logged).
	Problems []string `json:"problems,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	LogDir   string   `json:"log_dir"`
}

// put stores a scenario's own result under its name.
func (r *Results) put(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // results are plain data
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	r.Extra[name] = b
}

// get reads what put stored under name; ok is false if nothing was.
func get[T any](r Results, name string) (v T, ok bool) {
	b, ok := r.Extra[name]
	return v, ok && json.Unmarshal(b, &v) == nil
}

// Machine describes where the numbers were measured.
type Machine struct {
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpu_model"`
	MemoryGiB   float64 `json:"memory_gib"`
	Kernel      string  `json:"kernel"`
	PostgreSQL  string  `json:"postgresql"`
	Redis       string  `json:"redis"`
	Go          string  `json:"go"`
	TemporalCLI string  `json:"temporal_cli"`
	Commit      string  `json:"commit"`
}

// Target is one of the issues' goals and how the bench did against it.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Result   string `json:"result"` // pass, miss or "not measured"
}

// target is a measured Target; with measured "" it was not measured.
func target(name, goal, measured string, pass bool) Target {
	switch {
	case measured == "":
		return Target{name, goal, "-", "not measured"}
	case pass:
		return Target{name, goal, measured, "pass"}
	}
	return Target{name, goal, measured, "miss"}
}

// judge sets r's targets, problems and warnings from its measurements.
func judge(r *Results) {
	r.Targets, r.Problems, r.Warnings = nil, nil, nil
	for _, s := range registry {
		if s.targets != nil {
			r.Targets = append(r.Targets, s.targets(*r)...)
		}
		if s.check != nil {
			p, w := s.check(*r)
			r.Problems, r.Warnings = append(r.Problems, p...), append(r.Warnings, w...)
		}
	}
}

// Latency summarizes latencies in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// latencies summarizes xs, in milliseconds.
func latencies(xs []float64) Latency {
	if len(xs) == 0 {
		return Latency{}
	}
	return Latency{Count: len(xs), P50Ms: percentile(xs, 50), P90Ms: percentile(xs, 90), P99Ms: percentile(xs, 99), MaxMs: percentile(xs, 100)}
}

// logged is what a scenario's worker process logged.
type logged struct {
	WorkerErrors int      `json:"worker_errors"`
	LogSample    []string `json:"worker_log_sample,omitempty"`
	LogPath      string   `json:"worker_log,omitempty"`
}

// trouble lists what a scenario's run leaves to look at: its failure (a
// problem), retried activities and errors its worker logged (warnings).
func trouble(label, failed string, retries int, l logged) (p, w []string) {
	if failed != "" {
		p = append(p, label+": FAILED: "+failed)
	}
	if retries > 0 {
		w = append(w, fmt.Sprintf("%s: %d activity retries (see %s)", label, retries, l.LogPath))
	}
	if msg := fmt.Sprintf("%s: the worker logged %d errors", label, l.WorkerErrors); l.WorkerErrors > 0 && len(l.LogSample) > 0 {
		w = append(w, msg+", e.g. "+strings.Join(l.LogSample, " | "))
	} else if l.WorkerErrors > 0 {
		w = append(w, msg+" (see "+l.LogPath+")")
	}
	return p, w
}
