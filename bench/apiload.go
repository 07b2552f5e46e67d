package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/devstack"
	"github.com/orderflow/orderflow/internal/testenv"
)

// apiLoader is a running `orderflow dashboard` and what its clients ask for.
type apiLoader struct {
	*exec.Cmd
	done  chan struct{} // closed when the process has exited
	base  string
	users []string // /api/users/{id} picks one of them at random
	mu    sync.Mutex
	lat   map[*APILoad][]float64 // every latency of a phase, over its runs
}

// stop sends SIGTERM and waits up to 10 s, then kills the process.
func (a *apiLoader) stop() {
	_ = a.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.Process.Kill()
		<-a.done
	}
}

// startDashboard runs `orderflow dashboard` with the stack's configuration
// on a free port and waits until /api/tags answers from its cache (the
// same read time twice: the listener for the marts' refreshes is connected).
func (st *stack) startDashboard(ctx context.Context, users []string) (*apiLoader, error) {
	port, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	cfg := st.Config
	cfg.DashboardAddr = "127.0.0.1:" + strconv.Itoa(port)
	logFile, err := os.Create(st.logPath("dashboard"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	a := &apiLoader{Cmd: exec.Command(st.b.o.bin, "dashboard"), done: make(chan struct{}), base: "http://" + cfg.DashboardAddr, users: users, lat: map[*APILoad][]float64{}}
	a.Env, a.Stdout, a.Stderr = testenv.WorkerEnv(cfg), logFile, logFile
	a.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := a.Start(); err != nil {
		return nil, fmt.Errorf("start %s dashboard: %w", st.b.o.bin, err)
	}
	go func() { _ = a.Wait(); close(a.done) }()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(a.base + "/api/tags"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			at := resp.Header.Get("X-Orderflow-Read-At")
			if resp.StatusCode == http.StatusOK && at != "" && at == last {
				return a, nil
			}
			last = at
		}
	}
	a.stop()
	return nil, fmt.Errorf("the dashboard did not answer /api/tags from its cache within 30 s (log %s)", st.logPath("dashboard"))
}

// load runs apiClients keep-alive clients on paths (each client takes the
// next path in turn) for the duration, or until ctx ends when it is 0, and
// adds what they saw to l; with rate > 0 the clients together start at most
// rate requests a second.
func (a *apiLoader) load(ctx context.Context, l *APILoad, paths []string, duration time.Duration, rate int) {
	tr := &http.Transport{MaxIdleConns: apiClients, MaxIdleConnsPerHost: apiClients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	// With a rate, request k (counted across the clients) is due at
	// start + k/rate: a client takes the next k and waits for its time, so
	// requests late behind a slow one catch up instead of being dropped
	// (a ticker drops the ticks nobody takes, and delivered ~half the rate).
	var next atomic.Int64
	if l.Endpoint = paths[0]; len(paths) > 1 {
		l.Endpoint = "mix"
	}
	cpu0, _ := procCPU(a.Process.Pid, false)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range apiClients {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(c), 12))
			for i := c; ctx.Err() == nil; i++ {
				if rate > 0 {
					due := start.Add(time.Duration(next.Add(1)-1) * time.Second / time.Duration(rate))
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Until(due)):
					}
				}
				p := paths[i%len(paths)]
				if p == usersPath {
					p = "/api/users/" + a.users[rnd.IntN(len(a.users))]
				}
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+p, nil)
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
				a.mu.Lock()
				if l.Requests++; err == nil {
					a.lat[l] = append(a.lat[l], ms(time.Since(t0)))
				} else if l.Errors++; l.FirstErr == "" {
					l.FirstErr = err.Error()
				}
				a.mu.Unlock()
			}
		})
	}
	wg.Wait()
	cpu1, _ := procCPU(a.Process.Pid, false)
	l.DurationS, l.DashboardCPUS = l.DurationS+time.Since(start).Seconds(), l.DashboardCPUS+(cpu1-cpu0).Seconds()
	l.ReqPerS, l.Latency = float64(len(a.lat[l]))/l.DurationS, latencies(a.lat[l])
}
