package kafkaio

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/config"
)

// TestSASLAndTLS connects with each SASL mechanism, over TLS checked against
// a CA file, to a kfake broker that requires both; a wrong password and an
// untrusted certificate fail with a clear error that does not print the password.
func TestSASLAndTLS(t *testing.T) {
	caFile, serverTLS := selfSignedTLS(t)
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-secret"),
		kfake.Superuser("SCRAM-SHA-256", "scram256-user", "scram256-secret"),
		kfake.Superuser("SCRAM-SHA-512", "scram512-user", "scram512-secret"),
		kfake.TLS(serverTLS),
		kfake.SeedTopics(1, "secure"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	base := config.Kafka{Brokers: cluster.ListenAddrs(), TLS: true, TLSCAFile: caFile}

	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cfg := base
			cfg.SASLMechanism = mech
			prefix := map[string]string{"PLAIN": "plain", "SCRAM-SHA-256": "scram256", "SCRAM-SHA-512": "scram512"}[mech]
			cfg.SASLUser, cfg.SASLPassword = prefix+"-user", prefix+"-secret"
			cl, err := NewClient(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte(mech)}).FirstErr(); err != nil {
				t.Fatalf("produce with %s over TLS: %v", mech, err)
			}

			cfg.SASLPassword = "wrong-password"
			bad, err := NewClient(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			err = Ping(context.Background(), bad, cfg.Brokers)
			if err == nil {
				t.Fatalf("%s with a wrong password: no error", mech)
			}
			if strings.Contains(err.Error(), cfg.SASLPassword) {
				t.Fatalf("the error prints the password: %v", err)
			}
		})
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		cfg := base
		cfg.TLSCAFile = ""
		cfg.SASLMechanism, cfg.SASLUser, cfg.SASLPassword = "PLAIN", "plain-user", "plain-secret"
		cl, err := NewClient(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := Ping(context.Background(), cl, cfg.Brokers); err == nil {
			t.Fatal("a self-signed broker was trusted without its CA")
		}
	})
	t.Run("bad CA file", func(t *testing.T) {
		cfg := base
		cfg.TLSCAFile = filepath.Join(t.TempDir(), "missing.pem")
		if _, err := NewClient(cfg, nil); err == nil || !strings.Contains(err.Error(), "KAFKA_TLS_CA_FILE") {
			t.Fatalf("missing CA file: %v", err)
		}
	})
}

// selfSignedTLS makes a certificate for 127.0.0.1, returns the path of its
// PEM (to trust it as a CA) and a server TLS config that presents it.
func selfSignedTLS(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
