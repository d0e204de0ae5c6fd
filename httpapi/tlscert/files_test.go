package tlscert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
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

// TestFilesReloadOnChange: a renewed pair is served once a handshake after the
// interval has had the files looked at; a pair that does not load (a key of another
// certificate, a missing file) keeps the previous one in service and is reported once;
// once fixed, the new pair is served; a copy that keeps the old size and time is seen;
// a look that hangs on the file system stalls no handshake. Real TLS handshakes over a
// local listener.
func TestFilesReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, f, clock := loadOnAClock(t, dir)
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
		// The deadline only turns a stalled handshake into a failure instead of a hang.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw
	}
	// servedAfterLook: a handshake (which starts a look if one is due), the look's
	// end, and the certificate the next handshake is served.
	servedAfterLook := func() []byte {
		t.Helper()
		served()
		f.looks.Wait()
		return served()
	}

	if !bytes.Equal(served(), first) {
		t.Fatal("the loaded pair is not served")
	}
	second := pairFiles(t, dir, "second.example")
	if !bytes.Equal(servedAfterLook(), first) {
		t.Fatal("the files were read again before the interval")
	}
	next()
	if !bytes.Equal(servedAfterLook(), second) || reloads.Load() != 1 {
		t.Fatalf("the renewed pair is not served after the interval (reloads %d)", reloads.Load())
	}

	// A key that belongs to another certificate: the second pair stays, reported once.
	otherCert, _, err := SelfSigned([]string{"third.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certPath, otherCert)
	for range 3 {
		next()
		if !bytes.Equal(servedAfterLook(), second) {
			t.Fatal("a pair that does not load replaced the one in service")
		}
	}
	if errs.Load() != 1 {
		t.Fatalf("the broken pair was reported %d times, want once", errs.Load())
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	next()
	if !bytes.Equal(servedAfterLook(), second) || errs.Load() != 2 {
		t.Fatalf("with the key missing: served the pair in service? reports %d, want 2", errs.Load())
	}

	fourth := pairFiles(t, dir, "fourth.example")
	next()
	if !bytes.Equal(servedAfterLook(), fourth) || reloads.Load() != 2 {
		t.Fatalf("the fixed pair is not served (reloads %d)", reloads.Load())
	}
	if names := f.Certificate().Leaf.DNSNames; !slices.Contains(names, "fourth.example") {
		t.Fatalf("Certificate() is for %q", names)
	}

	// cp -p of a renewal: same sizes, same modification times, other contents.
	fifth := copyKeepingSizeAndTime(t, certPath, keyPath, "renew5.example") // as long as "fourth.example"
	next()
	if !bytes.Equal(servedAfterLook(), fifth) || reloads.Load() != 3 {
		t.Fatalf("a renewal copied with its size and time kept is not served (reloads %d)", reloads.Load())
	}

	// A look that hangs (here: opening a FIFO nobody writes) stalls no handshake.
	fifthPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(certPath); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(certPath, 0o600); err != nil {
		t.Fatal(err)
	}
	next()
	for range 3 {
		if !bytes.Equal(served(), fifth) {
			t.Fatal("the pair in service was not served while a look hung")
		}
		next() // due again, but the hung look is still under way: no second one
	}
	w, err := os.OpenFile(certPath, os.O_WRONLY, 0) // lets the hung look read the pair in service
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(fifthPEM); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.looks.Wait()
	if reloads.Load() != 3 || errs.Load() != 2 {
		t.Fatalf("after the hung look: reloads %d (want 3), reports %d (want 2)", reloads.Load(), errs.Load())
	}
	writeFile(t, certPath, fifthPEM) // a regular file again, or the next look hangs

	if _, err := LoadFiles(filepath.Join(dir, "nope.pem"), keyPath); err == nil {
		t.Fatal("LoadFiles of a missing file succeeded")
	}
}

// copyKeepingSizeAndTime replaces the pair in certPath and keyPath by a new pair for
// host of the same sizes, and gives the files their old modification times back.
func copyKeepingSizeAndTime(t *testing.T, certPath, keyPath, host string) []byte {
	t.Helper()
	var oldCert, oldKey os.FileInfo
	var err error
	if oldCert, err = os.Stat(certPath); err != nil {
		t.Fatal(err)
	}
	if oldKey, err = os.Stat(keyPath); err != nil {
		t.Fatal(err)
	}
	for range 1000 { // ECDSA signatures vary in length: try until the sizes match
		certPEM, keyPEM, err := SelfSigned([]string{host}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(certPEM)) != oldCert.Size() || int64(len(keyPEM)) != oldKey.Size() {
			continue
		}
		for _, file := range []struct {
			path string
			data []byte
			old  os.FileInfo
		}{{certPath, certPEM, oldCert}, {keyPath, keyPEM, oldKey}} {
			if err := os.WriteFile(file.path, file.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(file.path, file.old.ModTime(), file.old.ModTime()); err != nil {
				t.Fatal(err)
			}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair.Certificate[0]
	}
	t.Fatal("no pair of the same sizes in 1000 tries")
	return nil
}

// TestLoadFilesClassifiesItsErrors: a pair that does not load is ErrInvalidPair; a file
// that cannot be read is the os error (so a caller can tell EMFILE from a mistake).
func TestLoadFilesClassifiesItsErrors(t *testing.T) {
	dir := t.TempDir()
	pairFiles(t, dir, "ok.example")
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tests := []struct {
		name       string
		cert, key  string
		invalid    bool
		underlying error
	}{
		{"swapped", keyPath, certPath, true, nil},
		{"not PEM", filepath.Join(dir, "garbage"), keyPath, true, nil},
		{"missing", filepath.Join(dir, "nope.pem"), keyPath, false, fs.ErrNotExist},
		{"a folder", dir, keyPath, false, syscall.EISDIR},
	}
	writeFile(t, filepath.Join(dir, "garbage"), []byte("not a certificate\n"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFiles(tt.cert, tt.key)
			if err == nil || errors.Is(err, ErrInvalidPair) != tt.invalid || (tt.underlying != nil && !errors.Is(err, tt.underlying)) {
				t.Fatalf("LoadFiles: %v (ErrInvalidPair %v, want %v; want also %v)", err, errors.Is(err, ErrInvalidPair), tt.invalid, tt.underlying)
			}
		})
	}
}

// TestFilesUnreadableIsNotAChange: files a look cannot read (here a folder where the
// certificate was; EMFILE under a low file limit takes the same way) are reported
// once as unreadable, not as a pair that does not load; the pair in service stays;
// once readable again with the same contents, that is reported once; a renewal after
// is loaded as usual.
func TestFilesUnreadableIsNotAChange(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, f, clock := loadOnAClock(t, dir)
	var reloads, errs, unreadable, readable atomic.Int32
	var lastUnreadable atomic.Value
	f.OnReload = func(*x509.Certificate) { reloads.Add(1) }
	f.OnError = func(error) { errs.Add(1) }
	f.OnUnreadable = func(err error) { unreadable.Add(1); lastUnreadable.Store(err) }
	f.OnReadable = func() { readable.Add(1) }
	look := func() []byte {
		t.Helper()
		clock.Add(int64(6 * time.Second))
		f.GetCertificate(nil)
		f.looks.Wait()
		return f.Certificate().Certificate[0]
	}
	check := func(what string, wantCert []byte, wantReloads, wantErrs, wantUnreadable, wantReadable int32) {
		t.Helper()
		got := look()
		if !bytes.Equal(got, wantCert) || reloads.Load() != wantReloads || errs.Load() != wantErrs ||
			unreadable.Load() != wantUnreadable || readable.Load() != wantReadable {
			t.Fatalf("%s: served the expected pair %v; reloads %d (want %d), does-not-load %d (want %d), unreadable %d (want %d), readable again %d (want %d)",
				what, bytes.Equal(got, wantCert), reloads.Load(), wantReloads, errs.Load(), wantErrs, unreadable.Load(), wantUnreadable, readable.Load(), wantReadable)
		}
	}

	aside := filepath.Join(dir, "cert.aside")
	if err := os.Rename(certPath, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(certPath, 0o700); err != nil {
		t.Fatal(err)
	}
	check("unreadable", first, 0, 0, 1, 0)
	if err, _ := lastUnreadable.Load().(error); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("OnUnreadable was told %v", err)
	}
	check("still unreadable", first, 0, 0, 1, 0)
	if err := os.Remove(certPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(aside, certPath); err != nil {
		t.Fatal(err)
	}
	check("readable again", first, 0, 0, 1, 1)
	check("readable, unchanged", first, 0, 0, 1, 1)

	// Unreadable again, then renewed: the renewal is loaded.
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	check("key missing", first, 0, 0, 2, 1)
	second := pairFiles(t, dir, "second.example")
	check("renewed", second, 1, 0, 2, 1)
}

// loadOnAClock writes a certificate pair for first.example into dir, loads it, and
// gives the Files a clock the test moves by hand.
func loadOnAClock(t *testing.T, dir string) (first []byte, f *Files, clock *atomic.Int64) {
	t.Helper()
	first = pairFiles(t, dir, "first.example")
	f, err := LoadFiles(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clock = new(atomic.Int64)
	clock.Store(time.Now().UnixNano())
	f.now = func() time.Time { return time.Unix(0, clock.Load()) }
	return first, f, clock
}
