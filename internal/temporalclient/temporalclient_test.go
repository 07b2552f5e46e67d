package temporalclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

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

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1 and localhost, a client certificate, and a second, unrelated CA
// with a client certificate of its own; every file is PEM in a temp folder.
type pki struct {
	caCert, serverCert, serverKey, clientCert, clientKey string
	otherCACert, otherClientCert, otherClientKey         string

	serverPair tls.Certificate
	caPool     *x509.CertPool
	keyPEMs    [][]byte
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{}
	ca, caKey, caPEM := newCA(t, "orderflow test CA")
	other, otherKey, otherPEM := newCA(t, "unrelated CA")
	p.caCert = writeFile(t, dir, "ca.pem", caPEM)
	p.otherCACert = writeFile(t, dir, "other-ca.pem", otherPEM)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)

	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "temporal test server"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	certPEM, keyPEM := p.issue(t, server, ca, caKey)
	p.serverCert = writeFile(t, dir, "server.pem", certPEM)
	p.serverKey = writeFile(t, dir, "server-key.pem", keyPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	p.serverPair = pair

	client := &x509.Certificate{Subject: pkix.Name{CommonName: "orderflow worker"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	certPEM, keyPEM = p.issue(t, client, ca, caKey)
	p.clientCert = writeFile(t, dir, "client.pem", certPEM)
	p.clientKey = writeFile(t, dir, "client-key.pem", keyPEM)

	otherClient := &x509.Certificate{Subject: pkix.Name{CommonName: "intruder"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	certPEM, keyPEM = p.issue(t, otherClient, other, otherKey)
	p.otherClientCert = writeFile(t, dir, "other-client.pem", certPEM)
	p.otherClientKey = writeFile(t, dir, "other-client-key.pem", keyPEM)
	return p
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// issue signs tmpl with the CA and returns the certificate's and a fresh
// key's PEM; the key is remembered so assertNoSecrets can look for it.
func (p *pki) issue(t *testing.T, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	p.keyPEMs = append(p.keyPEMs, keyPEM)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM
}

// assertNoSecrets fails when text holds the API key or any line of a
// private key's PEM body.
func (p *pki) assertNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	if strings.Contains(text, testAPIKey) {
		t.Errorf("the %s holds the API key:\n%s", what, text)
	}
	for _, k := range p.keyPEMs {
		for _, line := range strings.Split(strings.TrimSpace(string(k)), "\n") {
			if strings.HasPrefix(line, "-----") || len(line) < 16 {
				continue
			}
			if strings.Contains(text, line) {
				t.Errorf("the %s holds private key material:\n%s", what, text)
				return
			}
		}
	}
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTLSProxy listens on 127.0.0.1 with TLS that requires a client
// certificate of the pki's CA and forwards the decrypted bytes to the
// plaintext Temporal frontend at upstream. It stops when the test ends.
func startTLSProxy(t *testing.T, upstream string, p *pki) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{p.serverPair},
		ClientCAs:    p.caPool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			track(raw)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer raw.Close()
				down := tls.Server(raw, tc)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := down.HandshakeContext(ctx)
				cancel()
				if err != nil {
					return
				}
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				track(up)
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, down); up.Close(); done <- struct{}{} }()
				go func() { io.Copy(down, up); down.Close(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
