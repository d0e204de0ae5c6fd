package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files serves the certificate and key kept in two PEM files, and reads them again
// when they change, so that a renewed certificate (certbot, cert-manager, an
// operator's copy) is served without a restart. The files are looked at, at most
// once per Interval, on a TLS handshake: two stat calls. A pair that does not load
// (a half-written renewal, a key that does not match) leaves the previous pair in
// service, and OnError is told once for that state of the files.
//
// Written by hand: the standard library offers the GetCertificate hook but no
// reloading, and the libraries that do (certmagic, for example) bring ACME with them.
type Files struct {
	certPath, keyPath string
	// Interval between looks at the files; 0 means 5 s.
	Interval time.Duration
	// OnReload, when set, is told of each new certificate put in service.
	OnReload func(leaf *x509.Certificate)
	// OnError, when set, is told of each state of the files that does not load.
	OnError func(err error)

	now     func() time.Time
	mu      sync.Mutex
	cur     *tls.Certificate
	loaded  string // the files' state cur was loaded from
	failed  string // the files' state that failed to load last
	checked time.Time
}

// LoadFiles loads the pair from certPath and keyPath, which must load now.
func LoadFiles(certPath, keyPath string) (*Files, error) {
	f := &Files{certPath: certPath, keyPath: keyPath, now: time.Now}
	state, err := f.state()
	if err != nil {
		return nil, err
	}
	c, err := load(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	f.cur, f.loaded, f.checked = c, state, f.now()
	return f, nil
}

// Certificate returns the pair in service.
func (f *Files) Certificate() *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// GetCertificate is for tls.Config.GetCertificate: the pair in service, read again
// first if the files changed since they were last looked at.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	interval := f.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if now := f.now(); now.Sub(f.checked) >= interval {
		f.checked = now
		f.reload()
	}
	return f.cur, nil
}

// reload loads the files if they changed. f.mu held.
func (f *Files) reload() {
	state, err := f.state()
	if err != nil {
		state = "unreadable: " + err.Error() // told once, like a pair that fails to load
	}
	if state == f.loaded || state == f.failed {
		return
	}
	var c *tls.Certificate
	if err == nil {
		c, err = load(f.certPath, f.keyPath)
	}
	if err != nil {
		f.failed = state
		if f.OnError != nil {
			f.OnError(err)
		}
		return
	}
	f.cur, f.loaded, f.failed = c, state, ""
	if f.OnReload != nil {
		f.OnReload(c.Leaf)
	}
}

// state sums up both files' size and modification time.
func (f *Files) state() (string, error) {
	var s string
	for _, p := range []string{f.certPath, f.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

func load(certPath, keyPath string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", certPath, keyPath, err)
	}
	// LoadX509KeyPair has parsed the leaf (Go 1.23+); it is what OnReload reports.
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", certPath, err)
		}
	}
	return &c, nil
}
