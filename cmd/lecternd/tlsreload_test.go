package main

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lectern/lectern/httpapi/tlscert"
)

// TestCertificateRenewedWithoutRestart: lecternd started with --tls-cert and
// --tls-key serves a renewed pair written over the files (as certbot does) from a
// handshake a few seconds later, without a restart, and logs it; a pair that does not
// load leaves the one in service and is logged as an error.
func TestCertificateRenewedWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for two reload intervals; not in -short")
	}
	work := t.TempDir()
	certPath, keyPath := filepath.Join(work, "cert.pem"), filepath.Join(work, "key.pem")
	writePair := func(host string) []byte {
		t.Helper()
		certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1", host}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for path, data := range map[string][]byte{keyPath: keyPEM, certPath: certPEM} {
			if err := os.WriteFile(path+".new", data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair.Certificate[0]
	}
	first := writePair("first.example")
	p := start(t, work, "--tls-cert", certPath, "--tls-key", keyPath)
	served := func() []byte {
		t.Helper()
		c, err := tls.Dial("tcp", p.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	waitServed := func(want []byte, what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !bytes.Equal(served(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("%s is not served 30 s after it was written:\n%s", what, p.stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !bytes.Equal(served(), first) {
		t.Fatal("the configured certificate is not served")
	}
	second := writePair("second.example")
	waitServed(second, "the renewed certificate")
	// The log line reaches the test through lecternd's log writer and a pipe.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "serving the new certificate"); {
		if time.Now().After(deadline) {
			t.Fatalf("the reload is not logged:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A certificate whose key is not the one beside it: the second pair stays.
	broken, _, err := tlscert.SelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.stderr.String(), "do not load"); {
		if time.Now().After(deadline) {
			t.Fatalf("the broken pair is not logged:\n%s", p.stderr.String())
		}
		if !bytes.Equal(served(), second) {
			t.Fatal("a pair that does not load replaced the one in service")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !bytes.Equal(served(), second) {
		t.Fatal("a pair that does not load replaced the one in service")
	}
}
