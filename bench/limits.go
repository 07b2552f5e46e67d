package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Issue 12's targets: how far the drain is from the machine's floor, a
// million orders at flat cost, and the share of a batch spent holding a lock
// that every shard needs (the Amdahl ceiling of the scale-out story).
const (
	targetDrain50kFloorS = 5.0
	targetPGCPUPer1kS    = 0.09 // half of 0.18 CPU-s per 1,000 orders (commit 35a4e4e)
	targetMillionS       = 150.0
	targetMillionGrowth  = 1.2
	targetLockShare      = 0.10
	millionOrders        = 1_000_000
	floorOrders          = 50_000
	lockMetric           = "orderflow_shared_lock_held_seconds_total"
	lockScrapeTimeout    = 5 * time.Second
)

func init() {
	register(scenario{name: "million", order: 15, optIn: true,
		run: func(ctx context.Context, b *bench, r *Results) bool {
			d := b.runDrain(ctx, defaultSpec(millionOrders))
			r.Drain = append(r.Drain, d)
			return d.Error == ""
		},
		targets: millionTargets,
	})
}

// lockHeld reads the seconds each shared lock was held from the worker's
// /metrics (observe.SharedLockHeld).
func (st *stack) lockHeld(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, lockScrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+st.Config.HealthAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	held := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), "{")
		if !ok || name != lockMetric {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		lock := strings.TrimSuffix(strings.TrimPrefix(labels, `lock="`), `"`)
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			held[lock] = v
		}
	}
	return held, sc.Err()
}

// lockUse is one lock's time held during a drain. A lock split into buckets
// (labels "kind/bucket", activities/counters.go) is one row: the bucket held
// longest bounds the pipelines, the sum says how much work the kind is.
type lockUse struct {
	name       string
	buckets    int
	maxS, sumS float64
	share      float64 // maxS over the drain's wall time
}

// lockUses groups the drain's locks by kind, in name order.
func lockUses(d DrainResult) []lockUse {
	byName := map[string]*lockUse{}
	for label, s := range d.LockHeldS {
		name, _, _ := strings.Cut(label, "/")
		u := byName[name]
		if u == nil {
			u = &lockUse{name: name}
			byName[name] = u
		}
		u.buckets++
		u.sumS += s
		u.maxS = max(u.maxS, s)
	}
	var uses []lockUse
	for _, u := range byName {
		u.share = safeDiv(u.maxS, d.WallS)
		uses = append(uses, *u)
	}
	slices.SortFunc(uses, func(a, b lockUse) int { return strings.Compare(a.name, b.name) })
	return uses
}

// limitsTables are the lock shares of every default drain and the floor
// experiment.
func limitsTables(r Results) []table {
	var ts []table
	locks := table{title: "Locks every shard needs: seconds held during the drain, and the share of its wall time",
		head:  []string{"orders", "lock", "buckets", "held s (bucket held longest)", "held s (all buckets)", "share of wall", "pipelines before that lock is always held"},
		notes: []string{"From the worker's orderflow_shared_lock_held_seconds_total (acquired → end of the transaction). A lock held for a share s of one pipeline's time lets at most 1/s pipelines run before it is held all the time: that is the Amdahl ceiling of adding shards. Counter work split into buckets of keys takes one lock per bucket: its row shows the bucket held longest, which bounds the pipelines, and the sum over its buckets."}}
	for _, d := range r.Drain {
		if !d.isDefault() || len(d.LockHeldS) == 0 {
			continue
		}
		for _, u := range lockUses(d) {
			locks.add(thousands(d.Orders), u.name, strconv.Itoa(u.buckets), f(u.maxS, 2), f(u.sumS, 2), pct(u.share), f(safeDiv(1, u.share), 1))
		}
	}
	if len(locks.rows) > 0 {
		ts = append(ts, locks)
	}
	for _, d := range r.Drain {
		if d.Floor == nil {
			continue
		}
		fl := *d.Floor
		t := table{title: fmt.Sprintf("The floor: the rows the N=%s drain left, written by plain COPY into bare tables (one session, same server)", thousands(d.Orders)),
			head: []string{"table", "rows", "COPY s"},
			notes: []string{fmt.Sprintf("Floor %.2f s for %s rows; the drain took %.2f s: %.1f× the floor. The floor writes each final row once, into tables without keys or indexes; the drain also writes and deletes its working rows, updates counters many times, reads Kafka and Redis, and produces two topics. So the ratio is an upper bound of the distance to this machine's limit.",
				fl.FloorSeconds, thousands(int(fl.Rows)), fl.DrainSeconds, fl.Ratio)}}
		for _, tb := range fl.Tables {
			t.add(tb.Table, thousands(int(tb.Rows)), f(tb.Seconds, 3))
		}
		t.add("all", thousands(int(fl.Rows)), f(fl.FloorSeconds, 2))
		ts = append(ts, t)
	}
	return ts
}

// limitsTargets are issue 12's goals for the default drains: 50,000 orders
// in 5 s, PostgreSQL CPU per order halved, and the shared locks' share.
func limitsTargets(r Results) []Target {
	var ts []Target
	var d50, largest DrainResult
	for _, d := range r.Drain {
		if !d.isDefault() {
			continue
		}
		if d.Orders == floorOrders {
			d50 = d
		}
		if d.Orders > largest.Orders && d.Orders < millionOrders {
			largest = d
		}
	}
	name := "50,000 orders end to end (issue 12)"
	goal := fmt.Sprintf("≤ %.0f s; PostgreSQL ≤ %.2f CPU-s per 1k orders", targetDrain50kFloorS, targetPGCPUPer1kS)
	if d50.Orders == 0 {
		ts = append(ts, target(name, goal, "", false))
	} else {
		pg := d50.CPU.PostgresS * 1000 / float64(d50.Orders)
		ts = append(ts, target(name, goal, fmt.Sprintf("%.1f s; %.3f CPU-s per 1k", d50.WallS, pg), d50.WallS <= targetDrain50kFloorS && pg <= targetPGCPUPer1kS))
	}
	name, goal = "share of a batch holding a lock every shard needs", fmt.Sprintf("< %.0f %% (≥ %.0f× pipelines)", targetLockShare*100, 1/targetLockShare)
	if len(largest.LockHeldS) == 0 {
		ts = append(ts, target(name, goal, "", false))
	} else {
		uses := lockUses(largest)
		top := slices.MaxFunc(uses, func(a, b lockUse) int { return cmp.Compare(a.share, b.share) })
		ts = append(ts, target(name, goal, fmt.Sprintf("%s %s (N=%s; ceiling %.1f×)", top.name, pct(top.share), thousands(largest.Orders), safeDiv(1, top.share)), top.share < targetLockShare))
	}
	return ts
}

// millionTargets are the goals of the million-order drain: its wall time,
// every activity's cost per record flat from the first to the last quarter,
// and the worker's memory.
func millionTargets(r Results) []Target {
	name := "1,000,000 orders (-scenarios million)"
	goal := fmt.Sprintf("≤ %.0f s; every activity last/first quarter ≤ %.1f×; worker RSS ≤ %.0f MiB", targetMillionS, targetMillionGrowth, targetDrainRSSMiB)
	i := slices.IndexFunc(r.Drain, func(d DrainResult) bool { return d.isDefault() && d.Orders >= millionOrders })
	if i < 0 {
		return []Target{target(name, goal, "", false)}
	}
	d := r.Drain[i]
	worst, worstName := 0.0, ""
	for _, a := range d.Breakdown.Activities {
		if x, y, ok := quarterGrowth(d, a.Name); ok && safeDiv(y, x) > worst {
			worst, worstName = safeDiv(y, x), a.Name
		}
	}
	measured := fmt.Sprintf("%.1f s; worst activity %s %.2f×; RSS %.0f MiB", d.WallS, worstName, worst, d.WorkerPeakRSSMiB)
	return []Target{target(name, goal, measured, d.WallS <= targetMillionS && worst > 0 && worst <= targetMillionGrowth && d.WorkerPeakRSSMiB <= targetDrainRSSMiB)}
}
