package tlscert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// pairFiles writes a new self-signed pair for host into dir and returns its
// certificate in DER.
func pairFiles(t *testing.T, dir, host string) []byte {
	t.Helper()
	certPEM, keyPEM, err := SelfSigned([]string{host}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Certificate[0]
}

// writeFile replaces path as a renewal does (write beside, rename), and moves its
// modification time on, so that a change within the file system's time granularity
// is seen.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err == nil {
		later := fi.ModTime().Add(time.Second)
		if err := os.Chtimes(tmp, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestFilesReloadOnChange: a renewed pair is served from the first handshake after
// the interval; a pair that does not load (a key of another certificate, a missing
// file) keeps the previous one in service and is reported once; once fixed, the new
// pair is served. Real TLS handshakes over a local listener.
func TestFilesReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	first := pairFiles(t, dir, "first.example")
	f, err := LoadFiles(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	f.now = func() time.Time { return time.Unix(0, clock.Load()) }
	var reloads, errs atomic.Int32
	f.OnReload = func(*x509.Certificate) { reloads.Add(1) }
	f.OnError = func(error) { errs.Add(1) }
	next := func() { clock.Add(int64(6 * time.Second)) }

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: f.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	served := func() []byte {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}

	if !bytes.Equal(served(), first) {
		t.Fatal("the loaded pair is not served")
	}
	second := pairFiles(t, dir, "second.example")
	if !bytes.Equal(served(), first) {
		t.Fatal("the files were read again before the interval")
	}
	next()
	if !bytes.Equal(served(), second) || reloads.Load() != 1 {
		t.Fatalf("the renewed pair is not served after the interval (reloads %d)", reloads.Load())
	}

	// A key that belongs to another certificate: the second pair stays, reported once.
	otherCert, _, err := SelfSigned([]string{"third.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cert.pem"), otherCert)
	for range 3 {
		next()
		if !bytes.Equal(served(), second) {
			t.Fatal("a pair that does not load replaced the one in service")
		}
	}
	if errs.Load() != 1 {
		t.Fatalf("the broken pair was reported %d times, want once", errs.Load())
	}
	if err := os.Remove(filepath.Join(dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	next()
	if !bytes.Equal(served(), second) || errs.Load() != 2 {
		t.Fatalf("with the key missing: served the pair in service? reports %d, want 2", errs.Load())
	}

	fourth := pairFiles(t, dir, "fourth.example")
	next()
	if !bytes.Equal(served(), fourth) || reloads.Load() != 2 {
		t.Fatalf("the fixed pair is not served (reloads %d)", reloads.Load())
	}
	if names := f.Certificate().Leaf.DNSNames; !slices.Contains(names, "fourth.example") {
		t.Fatalf("Certificate() is for %q", names)
	}
	if _, err := LoadFiles(filepath.Join(dir, "nope.pem"), filepath.Join(dir, "key.pem")); err == nil {
		t.Fatal("LoadFiles of a missing file succeeded")
	}
}
