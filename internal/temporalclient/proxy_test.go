package temporalclient

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

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
