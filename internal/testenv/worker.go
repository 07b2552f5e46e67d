package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/config"
)

// WorkerEnv is the environment of an `orderflow worker` process running cfg
// (without the simulator): the parent's environment without any orderflow
// setting, then cfg's, then extra (KEY=value, e.g. a fault hook), which wins.
func WorkerEnv(cfg config.Config, extra ...string) []string {
	cfg.Demo = false
	ours := append(cfg.Environ(), extra...)
	set := map[string]bool{}
	for _, kv := range ours {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if set[k] || isOrderflowSetting(k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, ours...)
}

// isOrderflowSetting reports whether an inherited variable would change the
// worker's configuration (README's table).
func isOrderflowSetting(k string) bool {
	for _, p := range []string{"KAFKA_", "REDIS_", "TEMPORAL_", "SIM_", "PG_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// WorkerOptions says how to run an `orderflow worker` process.
type WorkerOptions struct {
	Bin   string    // the orderflow binary
	Env   []string  // its whole environment (WorkerEnv)
	Log   io.Writer // receives its stdout and stderr; nil drops them
	Roles int       // how many "worker started" lines mean ready (WaitReady)
}

// WorkerProc is a running `orderflow worker` process. Its log (stderr) is
// read as slog JSON lines for readiness, warnings and errors.
type WorkerProc struct {
	Cmd *exec.Cmd
	PID int

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	ready   chan struct{} // closed when every role's worker started
	roles   int

	mu       sync.Mutex
	started  int
	warnings int
	errs     int
	firstBad []string // the first warning and error messages
	last     []string // the last log lines
}

// StartWorker starts `o.Bin worker` in its own process group (a Ctrl-C
// reaches only the parent, which stops the worker in order), sent SIGTERM
// if the parent dies first.
func StartWorker(o WorkerOptions) (*WorkerProc, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	w := &WorkerProc{roles: o.Roles, done: make(chan struct{}), ready: make(chan struct{})}
	w.Cmd = exec.Command(o.Bin, "worker")
	w.Cmd.Env = o.Env
	w.Cmd.Stdout = o.Log
	stderr, err := w.Cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	w.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := w.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s worker: %w", o.Bin, err)
	}
	w.PID = w.Cmd.Process.Pid
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		w.readLog(io.TeeReader(stderr, o.Log))
	}()
	go func() {
		<-logged
		w.waitErr = w.Cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// Worker runs cfg's worker process (every role of cfg.WorkerRoles) with
// extra (KEY=value) on top of cfg's settings and LOG_LEVEL=warn; its output
// goes to the test log; it is stopped when the test ends.
func Worker(t testing.TB, bin string, cfg config.Config, extra ...string) *WorkerProc {
	t.Helper()
	env := WorkerEnv(cfg, append([]string{"LOG_LEVEL=warn"}, extra...)...)
	w, err := StartWorker(WorkerOptions{Bin: bin, Env: env, Log: testWriter{t}, Roles: len(cfg.WorkerRoles)})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	return w
}

// testWriter sends a child's output to the test log (shown on failure or -v).
type testWriter struct{ t testing.TB }

var logMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	w.t.Logf("worker: %s", p)
	return len(p), nil
}

// logLine is the part of a slog JSON line the worker's readers use.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Err   string `json:"err"`
	Error string `json:"error"`
	// The Temporal SDK logs an activity's failure as "Error" with its type.
	SDKError     string `json:"Error"`
	ActivityType string `json:"ActivityType"`
}

func (w *WorkerProc) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var l logLine
		_ = json.Unmarshal([]byte(line), &l)
		w.mu.Lock()
		w.last = append(w.last, line)
		if len(w.last) > 10 {
			w.last = w.last[1:]
		}
		switch l.Level {
		case "WARN", "ERROR":
			if l.Level == "WARN" {
				w.warnings++
			} else {
				w.errs++
			}
			if len(w.firstBad) < 5 {
				w.firstBad = append(w.firstBad, strings.Join(strings.Fields(l.Level+" "+l.Msg+" "+l.ActivityType+" "+l.Err+l.Error+l.SDKError), " "))
			}
		}
		if l.Msg == "worker started" {
			w.started++
			if w.started == w.roles {
				close(w.ready)
			}
		}
		w.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// Done is closed when the process has exited; Err is then its exit error.
func (w *WorkerProc) Done() <-chan struct{} { return w.done }

// Err is the process's exit error (cmd.Wait's), once Done is closed.
func (w *WorkerProc) Err() error {
	select {
	case <-w.done:
		return w.waitErr
	default:
		return nil
	}
}

// WaitReady waits until every role's worker has logged "worker started"
// (which needs LOG_FORMAT=json and LOG_LEVEL info or lower).
func (w *WorkerProc) WaitReady(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ready:
		return nil
	case <-w.done:
		return fmt.Errorf("the worker exited while starting: %v%s", w.waitErr, w.Tail())
	case <-t.C:
		return fmt.Errorf("the worker did not start within %s%s", timeout, w.Tail())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tail quotes the last log lines, for errors.
func (w *WorkerProc) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.last) == 0 {
		return ""
	}
	return "; last log lines:\n\t" + strings.Join(w.last, "\n\t")
}

// LogCounts returns how many warnings and errors the worker logged and the first few.
func (w *WorkerProc) LogCounts() (warnings, errs int, first []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.warnings, w.errs, append([]string(nil), w.firstBad...)
}

// Stop sends SIGTERM, waits up to 15 s, then kills the process.
func (w *WorkerProc) Stop() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		_ = w.Cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("the worker did not stop within 15 s of SIGTERM; killed it")
	}
}

// KilledBySIGKILL waits up to timeout for the worker to die and reports
// whether SIGKILL ended it.
func (w *WorkerProc) KilledBySIGKILL(timeout time.Duration) bool {
	select {
	case <-w.done:
	case <-time.After(timeout):
		return false
	}
	ws, ok := w.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
