package temporalclient

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
)

func TestDialTLS(t *testing.T) {
	pki := newPKI(t)
	proxy := startTLSProxy(t, testenv.Temporal(t), pki)

	good := config.Temporal{
		Address: proxy, Namespace: "default",
		TLSCAFile: pki.caCert, TLSCertFile: pki.clientCert, TLSKeyFile: pki.clientKey,
	}

	t.Run("mutual TLS", func(t *testing.T) {
		t.Parallel()
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := dial(t, good, log)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, nil); err != nil {
			t.Fatalf("CheckHealth over mutual TLS: %v", err)
		}
		c.Close()
		if !strings.Contains(logs.String(), "tls+ca-file+client-cert") {
			t.Errorf("no connection line in the logs:\n%s", logs.String())
		}
	})

	t.Run("mutual TLS with API key", func(t *testing.T) {
		t.Parallel()
		cfg := good
		cfg.APIKey = testAPIKey
		opts, err := Options(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Credentials == nil {
			t.Fatal("an API key gave no credentials")
		}
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := dial(t, cfg, log)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.WorkflowService().DescribeNamespace(ctx, describeNamespace("default")); err != nil {
			t.Fatalf("DescribeNamespace over mutual TLS with an API key: %v", err)
		}
		c.Close()
		if logs.Len() == 0 {
			t.Error("nothing logged")
		}
		pki.assertNoSecrets(t, "log", logs.String())
	})

	failures := []struct {
		name   string
		change func(*config.Temporal)
		want   []string
	}{
		{"no client certificate", func(c *config.Temporal) { c.TLSCertFile, c.TLSKeyFile = "", "" },
			[]string{"TEMPORAL_TLS_CERT_FILE", "TEMPORAL_TLS_KEY_FILE"}},
		{"client certificate of another CA", func(c *config.Temporal) { c.TLSCertFile, c.TLSKeyFile = pki.otherClientCert, pki.otherClientKey },
			[]string{"TEMPORAL_TLS_CERT_FILE", "TEMPORAL_TLS_KEY_FILE"}},
		{"wrong CA", func(c *config.Temporal) { c.TLSCAFile = pki.otherCACert },
			[]string{"TEMPORAL_TLS_CA_FILE", "unknown authority"}},
		{"wrong server name", func(c *config.Temporal) { c.TLSServerName = "temporal.example.com" },
			[]string{"TEMPORAL_TLS_SERVER_NAME"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			cfg.APIKey = testAPIKey
			f.change(&cfg)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c, err := Dial(ctx, cfg, log, nil)
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			t.Logf("error: %v", err)
			msg := err.Error()
			if !strings.HasPrefix(msg, "temporal at "+proxy+" is unreachable") {
				t.Errorf("error %q does not start with %q", msg, "temporal at "+proxy+" is unreachable")
			}
			for _, w := range f.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			pki.assertNoSecrets(t, "error", msg)
			pki.assertNoSecrets(t, "log", logs.String())
		})
	}
}

func TestDialPlaintextToTLS(t *testing.T) {
	pki := newPKI(t)
	proxy := startTLSProxy(t, testenv.Temporal(t), pki)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := Dial(ctx, config.Temporal{Address: proxy, Namespace: "default"}, nil, nil)
	if err == nil {
		c.Close()
		t.Fatal("a plaintext client connected to a TLS server")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "is unreachable") {
		t.Errorf("error %q lacks 'is unreachable'", err)
	}
}

func describeNamespace(ns string) *workflowservice.DescribeNamespaceRequest {
	return &workflowservice.DescribeNamespaceRequest{Namespace: ns}
}

func dial(t *testing.T, cfg config.Temporal, log *slog.Logger) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg, log, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}
