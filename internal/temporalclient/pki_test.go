package temporalclient

import (
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
)

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
