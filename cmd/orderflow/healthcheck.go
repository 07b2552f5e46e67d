package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// readyURL is /readyz on HEALTH_ADDR, with a wildcard host replaced by loopback.
func readyURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/readyz"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}

// cmdHealthcheck asks a running orderflow process whether it is ready: a
// GET of its /readyz (or of -url), for container health checks in images
// that have no shell or curl.
func cmdHealthcheck(ctx context.Context, e *env, args []string) error {
	fs := flags("healthcheck", "healthcheck [-url http://127.0.0.1:8081/readyz]")
	url := fs.String("url", readyURL(e.cfg.HealthAddr), "what to GET; any answer but 200 is unhealthy")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef(fs, "-timeout %s: must be positive", *timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %d: %s", *url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(e.out, "healthy: %s\n", *url)
	return nil
}
