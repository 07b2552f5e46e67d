// Package temporalclient builds orderflow's connection to the Temporal
// frontend from config.Temporal: plain gRPC for a local dev server, TLS with
// an optional client certificate (mTLS) for a self-hosted cluster, or an API
// key (Temporal Cloud). Every process (the workers and the CLI) dials through
// Dial, so they share one set of settings and one set of error messages.
//
// Secrets stay secret: the API key and the private key never appear in an
// error or a log line; errors name the environment variable and the file's
// path instead of its contents.
package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/orderflow/orderflow/config"
)

// The environment variables behind config.Temporal's security settings,
// named in errors and hints.
const (
	envTLS        = "TEMPORAL_TLS"
	envCAFile     = "TEMPORAL_TLS_CA_FILE"
	envCertFile   = "TEMPORAL_TLS_CERT_FILE"
	envKeyFile    = "TEMPORAL_TLS_KEY_FILE"
	envServerName = "TEMPORAL_TLS_SERVER_NAME"
	envAPIKey     = "TEMPORAL_API_KEY"
)

// Options turns cfg into the SDK's client options: the frontend address and
// namespace, a logger (log, tagged component=temporal; none when log is nil),
// TLS when cfg.UsesTLS() (at least TLS 1.2; the CA of TEMPORAL_TLS_CA_FILE,
// else the system's; the client certificate of TEMPORAL_TLS_CERT_FILE and
// TEMPORAL_TLS_KEY_FILE; TEMPORAL_TLS_SERVER_NAME as the expected server
// name) and the API key as credentials. A file that cannot be read or holds
// no valid PEM gives an error naming its variable and path.
func Options(cfg config.Temporal, log *slog.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
	}
	if log != nil {
		opts.Logger = tlog.NewStructuredLogger(log.With("component", "temporal"))
	}
	if cfg.UsesTLS() {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return client.Options{}, err
		}
		opts.ConnectionOptions.TLS = tc
	}
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	return opts, nil
}

func tlsConfig(cfg config.Temporal) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal: %s: cannot read the CA file: %w", envCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal: %s: %s holds no valid PEM certificate", envCAFile, cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case cfg.TLSCertFile == "" && cfg.TLSKeyFile == "":
	case cfg.TLSCertFile == "" || cfg.TLSKeyFile == "":
		return nil, fmt.Errorf("temporal: %s and %s must be set together", envCertFile, envKeyFile)
	default:
		certPEM, err := os.ReadFile(cfg.TLSCertFile)
		if err != nil {
			return nil, fmt.Errorf("temporal: %s: cannot read the client certificate: %w", envCertFile, err)
		}
		keyPEM, err := os.ReadFile(cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal: %s: cannot read the client key: %w", envKeyFile, err)
		}
		// tls.X509KeyPair's errors describe PEM block types and key
		// mismatches, never the bytes themselves.
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		clear(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("temporal: %s (%s) and %s (%s) are not a valid certificate and key pair: %w",
				envCertFile, cfg.TLSCertFile, envKeyFile, cfg.TLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// Dial connects to the Temporal frontend of cfg (see Options) and checks that
// it answers. metrics, when not nil, receives the SDK's metrics. A failure
// reads "temporal at <address> is unreachable: …", followed, for a TLS or
// authentication problem, by a hint naming the variable to check.
func Dial(ctx context.Context, cfg config.Temporal, log *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts, err := Options(cfg, log)
	if err != nil {
		return nil, err
	}
	if metrics != nil {
		opts.MetricsHandler = metrics
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, dialError(cfg, err)
	}
	if log != nil {
		log.Debug("temporal connected", "address", cfg.Address, "namespace", cfg.Namespace, "security", Security(cfg))
	}
	return c, nil
}

// Security describes cfg's connection security for logs, without secrets:
// "plaintext", or "tls" followed by "+ca-file", "+client-cert" and
// "+api-key" for the settings in use.
func Security(cfg config.Temporal) string {
	if !cfg.UsesTLS() {
		return "plaintext"
	}
	s := "tls"
	if cfg.TLSCAFile != "" {
		s += "+ca-file"
	}
	if cfg.TLSCertFile != "" {
		s += "+client-cert"
	}
	if cfg.APIKey != "" {
		s += "+api-key"
	}
	return s
}

// dialError wraps a dial failure with the address and, when it can tell, a
// hint at the setting to check. Should the server's message ever echo the
// API key, the error is rebuilt as text with the key blanked out.
func dialError(cfg config.Temporal, err error) error {
	msg := "temporal at " + cfg.Address + " is unreachable"
	if h := hint(cfg, err); h != "" {
		msg += " (" + h + ")"
	}
	if cfg.APIKey != "" && strings.Contains(err.Error(), cfg.APIKey) {
		return errors.New(msg + ": " + strings.ReplaceAll(err.Error(), cfg.APIKey, "[redacted]"))
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// hint recognises the usual TLS and authentication failures from the text of
// the gRPC error (the transport flattens the TLS error into a string).
func hint(cfg config.Temporal, err error) string {
	s := err.Error()
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case has("certificate is valid for", "certificate is not valid for any names", "doesn't contain any IP SANs"):
		name := cfg.TLSServerName
		if name == "" {
			name = cfg.Address
		}
		return "the server's certificate is not valid for " + name + ": check " + envServerName
	case has("certificate signed by unknown authority"):
		return "the server's certificate is not signed by a trusted CA: check " + envCAFile
	case has("certificate has expired or is not yet valid"):
		return "a certificate has expired or is not yet valid: check the server's certificate, " + envCAFile + " and " + envCertFile
	case has("tls: certificate required", "tls: bad certificate", "tls: unknown certificate authority",
		"tls: unknown certificate", "tls: certificate expired", "tls: certificate revoked", "tls: unsupported certificate"):
		return "the server wants a client certificate it trusts: check " + envCertFile + " and " + envKeyFile
	case has("first record does not look like a TLS handshake"):
		return "the server does not speak TLS: unset " + envTLS + ", " + envCAFile + ", " + envCertFile + " and " + envAPIKey + ", or use the server's TLS port"
	}
	// By name, to keep gRPC's codes package out of the imports.
	if code := serviceerror.ToStatus(err).Code().String(); code == "Unauthenticated" || code == "PermissionDenied" {
		if cfg.APIKey != "" {
			return "the server refused the credentials: check " + envAPIKey + " and TEMPORAL_NAMESPACE"
		}
		return "the server wants credentials: set " + envAPIKey + " or " + envCertFile + " and " + envKeyFile
	}
	// With TLS 1.3 the server checks the client certificate after the client
	// has finished its handshake, so a refused certificate may reach the
	// client only as a closed connection.
	if cfg.UsesTLS() && has("broken pipe", "connection reset by peer", "error reading server preface", "EOF") {
		return "the server closed the connection during or right after the TLS handshake: if it wants a client certificate, check " + envCertFile + " and " + envKeyFile + "; else check " + envCAFile
	}
	if !cfg.UsesTLS() && has("error reading server preface", "connection reset by peer", "EOF") {
		return "if the server requires TLS, set " + envTLS + "=true (and " + envCAFile + " for a private CA)"
	}
	return ""
}
