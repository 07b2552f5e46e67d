package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

const (
	// TemporalCLIVersion is the Temporal CLI release the local stack uses
	// (Temporal Server 1.29.1, UI 2.42.1).
	TemporalCLIVersion = "v1.5.1"

	temporalStartTimeout = 60 * time.Second
	temporalStopTimeout  = 10 * time.Second
)

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// Bin is the Temporal CLI binary (see TemporalBin).
	Bin string
	// DBFile is the SQLite file the server keeps its state in; "" keeps
	// the state in memory (lost when the server stops).
	DBFile string
	// Port is the frontend (gRPC) port on 127.0.0.1; 0 picks a free port.
	Port int
	// UIPort is the Web UI port on 127.0.0.1; 0 picks a free port.
	UIPort int
	// Log receives the server's stdout and stderr; nil discards them. The
	// last lines are kept anyway and quoted in errors.
	Log io.Writer
}

// TemporalServer is a running Temporal dev server started by StartTemporal.
type TemporalServer struct {
	cmd    *exec.Cmd
	port   int
	uiPort int
	out    *tailBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// StartTemporal runs `<Bin> server start-dev` on 127.0.0.1 and returns once
// the frontend port accepts connections and a Temporal client reports the
// server healthy with the default namespace registered (at most 60 s, less if
// ctx ends sooner). ctx bounds only the start: the server runs until Stop.
// When the frontend port was picked automatically and the server dies while
// starting (say another process took the port), it is retried on new ports
// (twice at most).
func StartTemporal(ctx context.Context, o TemporalOptions) (*TemporalServer, error) {
	if o.Bin == "" {
		return nil, errors.New("temporal dev server: no binary given (see devstack.TemporalBin)")
	}
	if _, err := os.Stat(o.Bin); err != nil {
		return nil, fmt.Errorf("temporal dev server: %w (run `make bin/temporal`)", err)
	}
	if o.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("temporal dev server: database folder: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, temporalStartTimeout)
	defer cancel()
	attempts := 1
	if o.Port == 0 {
		attempts = 3
	}
	var err error
	for i := 0; i < attempts; i++ {
		var s *TemporalServer
		var exited bool
		s, exited, err = startTemporalOnce(ctx, o)
		if err == nil {
			return s, nil
		}
		if !exited || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// startTemporalOnce starts one server process; exited reports whether a
// failure came from the process dying (worth a retry on other ports).
func startTemporalOnce(ctx context.Context, o TemporalOptions) (s *TemporalServer, exited bool, err error) {
	port, uiPort := o.Port, o.UIPort
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, false, err
		}
	}
	if uiPort == 0 {
		for uiPort == 0 || uiPort == port {
			if uiPort, err = FreePort(); err != nil {
				return nil, false, err
			}
		}
	}
	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--ui-port", strconv.Itoa(uiPort),
	}
	if o.DBFile != "" {
		args = append(args, "--db-filename", o.DBFile)
	}
	args = append(args,
		"--log-level", "warn",
		"--dynamic-config-value", "system.enableActivityEagerExecution=true",
		// Backfill runs set it (workflows.ModeAttribute); a real cluster gets
		// it from `orderflow schedule ensure` or the operator.
		"--search-attribute", "OrderflowMode=Keyword",
	)

	s = &TemporalServer{
		port:   port,
		uiPort: uiPort,
		out:    newTailBuffer(40),
		done:   make(chan struct{}),
	}
	var w io.Writer = s.out
	if o.Log != nil {
		w = io.MultiWriter(o.Log, s.out)
	}
	s.cmd = exec.Command(o.Bin, args...)
	s.cmd.Stdout = w
	s.cmd.Stderr = w
	s.cmd.SysProcAttr = childProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("temporal dev server: start %s: %w", o.Bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()

	if err := s.waitReady(ctx); err != nil {
		select {
		case <-s.done:
			exited = true
		default:
		}
		_ = s.Stop()
		return nil, exited, fmt.Errorf("temporal dev server (%s %s): %w%s",
			filepath.Base(o.Bin), strings.Join(args, " "), err, s.out.quote())
	}
	return s, false, nil
}

// waitReady polls until the frontend port accepts connections and a client
// finds the server healthy with the default namespace registered.
func (s *TemporalServer) waitReady(ctx context.Context) error {
	addr := s.Addr()
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("exited while starting: %v", s.waitErr)
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("not ready on %s: %w", addr, last)
		case <-tick.C:
		}
		last = probeTemporal(ctx, addr, logger)
		if last == nil {
			return nil
		}
	}
}

func probeTemporal(ctx context.Context, addr string, logger tlog.Logger) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("frontend port: %w", err)
	}
	conn.Close()

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(cctx, client.Options{HostPort: addr, Logger: logger})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(cctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(cctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		return fmt.Errorf("default namespace: %w", err)
	}
	return nil
}

// Addr is the frontend's host:port, what client.Options.HostPort and
// TEMPORAL_ADDRESS want.
func (s *TemporalServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// UIURL is the address of the Web UI.
func (s *TemporalServer) UIURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.uiPort))
}

// Done is closed when the server process has exited, whether through Stop
// or not.
func (s *TemporalServer) Done() <-chan struct{} { return s.done }

// Stop sends the server SIGTERM, waits up to 10 s for it to exit and then
// kills it. It is safe to call more than once; later calls return the first
// call's result. It reports an error if the server had already died on its
// own or had to be killed.
func (s *TemporalServer) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			s.stopErr = fmt.Errorf("temporal dev server had already exited: %v%s", s.waitErr, s.out.quote())
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("temporal dev server: SIGTERM: %w", err)
		}
		timer := time.NewTimer(temporalStopTimeout)
		defer timer.Stop()
		select {
		case <-s.done:
		case <-timer.C:
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("temporal dev server did not stop within %s of SIGTERM; killed it", temporalStopTimeout)
		}
	})
	return s.stopErr
}

// tailBuffer keeps the last lines written to it.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := append(b.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := string(data[:i])
		if len(line) > 2000 {
			line = line[:2000] + "…"
		}
		b.lines = append(b.lines, line)
		if len(b.lines) > b.max {
			b.lines = b.lines[len(b.lines)-b.max:]
		}
		data = data[i+1:]
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	b.partial = append(b.partial[:0:0], data...)
	return len(p), nil
}

// quote returns the kept lines as an error suffix, or "" when there are none.
func (b *tailBuffer) quote() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := b.lines
	if len(b.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(b.partial))
	}
	if len(lines) == 0 {
		return "; the server printed nothing"
	}
	return "; last output of the server:\n\t" + strings.Join(lines, "\n\t")
}
