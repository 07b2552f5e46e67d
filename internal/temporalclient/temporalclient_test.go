package temporalclient

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testAPIKey = "tk-3f9c1b7e0d2a4c68-secret-api-key"

func TestOptionsPlaintext(t *testing.T) {
	cfg := config.Temporal{Address: "127.0.0.1:7233", Namespace: "orders"}
	opts, err := Options(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != cfg.Address || opts.Namespace != cfg.Namespace {
		t.Errorf("HostPort, Namespace = %q, %q; want %q, %q", opts.HostPort, opts.Namespace, cfg.Address, cfg.Namespace)
	}
	if opts.ConnectionOptions.TLS != nil {
		t.Error("a config without TLS settings gave a TLS config")
	}
	if opts.Credentials != nil {
		t.Error("a config without an API key gave credentials")
	}
	if opts.Logger != nil {
		t.Error("a nil slog logger gave a Temporal logger")
	}
	if got := Security(cfg); got != "plaintext" {
		t.Errorf("Security = %q, want plaintext", got)
	}

	opts, err = Options(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		t.Error("a slog logger gave no Temporal logger")
	}
}

func TestOptionsAPIKey(t *testing.T) {
	cfg := config.Temporal{Address: "ns.acct.tmprl.cloud:7233", Namespace: "ns.acct", APIKey: testAPIKey}
	opts, err := Options(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Credentials == nil {
		t.Fatal("an API key gave no credentials")
	}
	tc := opts.ConnectionOptions.TLS
	if tc == nil {
		t.Fatal("an API key gave no TLS")
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.RootCAs != nil || len(tc.Certificates) != 0 {
		t.Errorf("TLS config = MinVersion %x, RootCAs %v, %d certificates; want TLS 1.2, the system's roots, none",
			tc.MinVersion, tc.RootCAs, len(tc.Certificates))
	}
	if got := Security(cfg); strings.Contains(got, testAPIKey) || got != "tls+api-key" {
		t.Errorf("Security = %q, want tls+api-key", got)
	}
}

func TestOptionsFileErrors(t *testing.T) {
	pki := newPKI(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := writeFile(t, dir, "garbage.pem", []byte("not a PEM file\n"))

	cases := []struct {
		name string
		cfg  config.Temporal
		want []string
	}{
		{"missing CA", config.Temporal{TLSCAFile: missing}, []string{"TEMPORAL_TLS_CA_FILE", missing}},
		{"invalid CA", config.Temporal{TLSCAFile: garbage}, []string{"TEMPORAL_TLS_CA_FILE", garbage}},
		{"missing cert", config.Temporal{TLSCertFile: missing, TLSKeyFile: pki.clientKey}, []string{"TEMPORAL_TLS_CERT_FILE", missing}},
		{"missing key", config.Temporal{TLSCertFile: pki.clientCert, TLSKeyFile: missing}, []string{"TEMPORAL_TLS_KEY_FILE", missing}},
		{"cert without key", config.Temporal{TLSCertFile: pki.clientCert}, []string{"TEMPORAL_TLS_CERT_FILE", "TEMPORAL_TLS_KEY_FILE"}},
		// The server's key with the client's certificate: a valid key that
		// does not match.
		{"mismatched key", config.Temporal{TLSCertFile: pki.clientCert, TLSKeyFile: pki.serverKey}, []string{"TEMPORAL_TLS_CERT_FILE", "TEMPORAL_TLS_KEY_FILE", pki.serverKey}},
		{"key as cert", config.Temporal{TLSCertFile: pki.clientKey, TLSKeyFile: pki.clientKey}, []string{"TEMPORAL_TLS_CERT_FILE", pki.clientKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Address, tc.cfg.APIKey = "127.0.0.1:7233", testAPIKey
			var logs bytes.Buffer
			_, err := Options(tc.cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			pki.assertNoSecrets(t, "error", err.Error())
			pki.assertNoSecrets(t, "log", logs.String())
		})
	}
}
