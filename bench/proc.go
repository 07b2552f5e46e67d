package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc (USER_HZ, 100 on every
// Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

const mib = 1 << 20

// statFields splits a /proc/<pid>/stat line after the command (which may
// hold spaces and parentheses): field 0 is the state, field 1 the parent pid.
func statFields(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("%d fields after the command, want at least 15", len(f))
	}
	return f, nil
}

// procCPU returns the CPU time process pid has used, user plus system;
// with children also that of its exited and waited-for children (how
// PostgreSQL's finished backends are still counted).
func procCPU(pid int, children bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f, err := statFields(b)
	if err != nil {
		return 0, err
	}
	n := map[bool]int{false: 2, true: 4}[children] // utime stime cutime cstime
	var ticks int64
	for _, s := range f[11 : 11+n] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseStatusMem reads VmHWM (the peak) and VmRSS of a /proc/<pid>/status
// file, in bytes.
func parseStatusMem(b []byte) (peak, rss int64, err error) {
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, _ := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if (name != "VmHWM" && name != "VmRSS") || len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if found++; name == "VmHWM" {
			peak = kb << 10
		} else {
			rss = kb << 10
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("VmHWM or VmRSS missing")
	}
	return peak, rss, nil
}

// procMem returns process pid's peak and current RSS in bytes.
func procMem(pid int) (peak, rss int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	peak, rss, _ = parseStatusMem(b)
	return peak, rss
}

// procs calls fn with the pid and /proc/<pid>/stat of every process whose
// command name is comm.
func procs(comm string, fn func(pid int, stat []byte)) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		c, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if b, err := os.ReadFile(d + "/stat"); err == nil {
			fn(pid, b)
		}
	}
}

// childPID returns the pid of a child of parent whose command is comm, or 0.
func childPID(parent int, comm string) (pid int) {
	procs(comm, func(p int, stat []byte) {
		if f, err := statFields(stat); err == nil && f[1] == strconv.Itoa(parent) {
			pid = p
		}
	})
	return pid
}

// machineCPU returns the busy and total CPU time of every core from
// /proc/stat; busy excludes idle and iowait.
func machineCPU() (busy, total time.Duration) {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	var all, idle int64
	// cpu user nice system idle iowait irq softirq steal (guest is in user)
	f := strings.Fields(line)
	for i := 1; i < min(len(f), 9); i++ {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		all += v
		if i == 4 || i == 5 {
			idle += v
		}
	}
	return time.Duration(all-idle) * clockTick, time.Duration(all) * clockTick
}

// backgroundBusy is the machine's busy share over window: with the bench's
// stack idle, the other work the next measurement competes with.
func backgroundBusy(window time.Duration) float64 {
	b0, a0 := machineCPU()
	time.Sleep(window)
	b1, a1 := machineCPU()
	return safeDiv(float64(b1-b0), float64(a1-a0))
}

// cpuSnapshot is the CPU time used so far by each part of the stack.
type cpuSnapshot struct {
	at                      time.Time
	worker, temporal, bench time.Duration
	postgres                map[int]time.Duration // the scenario database's backends, by pid
	redis                   time.Duration
	machineBusy, machineAll time.Duration
	workerPeakRSS           int64
}

// takeSnapshot reads the CPU times of the worker (pid), the Temporal server,
// the PostgreSQL backends pgPIDs, Redis and the whole machine.
func takeSnapshot(pid, temporalPID int, pgPIDs []int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), postgres: map[int]time.Duration{}}
	s.worker, _ = procCPU(pid, true)
	s.temporal, _ = procCPU(temporalPID, true)
	s.bench, _ = procCPU(os.Getpid(), false)
	for _, p := range pgPIDs {
		if cpu, err := procCPU(p, false); err == nil {
			s.postgres[p] = cpu
		}
	}
	procs("redis-server", func(pid int, _ []byte) {
		cpu, _ := procCPU(pid, true)
		s.redis += cpu
	})
	s.machineBusy, s.machineAll = machineCPU()
	s.workerPeakRSS, _ = procMem(pid)
	return s
}

// CPUUsage is the CPU time each part of the stack used over a window, in
// seconds, and the machine's utilisation (1.0 = every core busy).
type CPUUsage struct {
	WindowS   float64 `json:"window_s"`
	WorkerS   float64 `json:"worker_s"`
	TemporalS float64 `json:"temporal_s"`
	BenchS    float64 `json:"bench_kfake_s"`
	// PostgresS counts the backends connected to the scenario's database,
	// not PostgreSQL's background processes.
	PostgresS float64 `json:"postgres_s"`
	RedisS    float64 `json:"redis_s"`
	// OtherS is the machine's busy time not accounted for above: other
	// processes on a shared machine, PostgreSQL's background work, the kernel.
	OtherS      float64 `json:"other_s"`
	MachineBusy float64 `json:"machine_busy"`
}

// usage is the CPU used between two snapshots.
func usage(a, b cpuSnapshot) CPUUsage {
	u := CPUUsage{
		WindowS:   b.at.Sub(a.at).Seconds(),
		WorkerS:   (b.worker - a.worker).Seconds(),
		TemporalS: (b.temporal - a.temporal).Seconds(),
		BenchS:    (b.bench - a.bench).Seconds(),
		RedisS:    (b.redis - a.redis).Seconds(),
	}
	for pid, cpu := range b.postgres {
		u.PostgresS += (cpu - a.postgres[pid]).Seconds() // a backend new in the window started at 0
	}
	if all := b.machineAll - a.machineAll; all > 0 {
		u.MachineBusy = float64(b.machineBusy-a.machineBusy) / float64(all)
	}
	busy := (b.machineBusy - a.machineBusy).Seconds()
	u.OtherS = math.Max(busy-u.WorkerS-u.TemporalS-u.BenchS-u.PostgresS-u.RedisS, 0)
	return u
}

// percentile returns the p-th percentile (0-100) of xs by linear
// interpolation between the closest ranks; NaN for an empty slice.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	r := min(max(p, 0), 100) / 100 * float64(len(s)-1)
	lo := int(r)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (r-float64(lo))*(s[lo+1]-s[lo])
}
