package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Files serves the certificate and key kept in two PEM files, and reads them again
// when they change, so that a renewed certificate (certbot, cert-manager, an
// operator's copy) is served without a restart.
//
// A TLS handshake never waits for the files: it is served the pair in service, and
// at most once per Interval it starts a look at the files in the background (one at a
// time), so that a file system that hangs stalls that look, never a handshake. A look
// reads both files whole and compares their contents with the pair's, so that a copy
// that keeps the old size and time (cp -p) is seen too. A pair that does not load (a
// half-written renewal, a key that does not match) leaves the previous pair in service,
// and OnError is told once for those contents of the files. Files that cannot be read
// (missing, EMFILE under a low file limit, EIO) are no new contents: OnUnreadable is
// told once, the pair in service stays, and when a later look reads the files again
// OnReadable is told if they still hold that pair (other contents are loaded, or
// reported, as any change).
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
	// OnUnreadable, when set, is told when a look cannot read the files, once until
	// a look reads them again; when nil, OnError is told instead.
	OnUnreadable func(err error)
	// OnReadable, when set, is told when a look reads the files again after
	// OnUnreadable and they hold the pair in service.
	OnReadable func()

	now   func() time.Time
	cur   atomic.Pointer[tls.Certificate]
	looks sync.WaitGroup // the look under way, if any (tests wait for it)

	mu      sync.Mutex
	checked time.Time // when the last look was started
	looking bool

	// Touched only by the one look under way.
	loaded     string // the files' contents cur was loaded from
	failed     string // the files' contents that failed to load last
	unreadable bool   // the last look could not read the files
}

// ErrInvalidPair: the files were read but do not hold a certificate and its matching
// key (not PEM, swapped, a key of another certificate). A file that cannot be read is
// reported with the os error instead (fs.ErrNotExist, fs.ErrPermission, …), so that a
// caller can tell the operator's mistake from a passing failure such as EMFILE.
var ErrInvalidPair = errors.New("not a certificate with its matching key")

// invalidPair marks a load error as ErrInvalidPair, keeping its text.
type invalidPair struct{ error }

func (e invalidPair) Unwrap() error        { return e.error }
func (e invalidPair) Is(target error) bool { return target == ErrInvalidPair }

// LoadFiles loads the pair from certPath and keyPath, which must load now.
func LoadFiles(certPath, keyPath string) (*Files, error) {
	f := &Files{certPath: certPath, keyPath: keyPath, now: time.Now}
	state, certPEM, keyPEM, err := f.read()
	if err != nil {
		return nil, err
	}
	c, err := f.load(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	f.cur.Store(c)
	f.loaded, f.checked = state, f.now()
	return f, nil
}

// Certificate returns the pair in service.
func (f *Files) Certificate() *tls.Certificate {
	return f.cur.Load()
}

// GetCertificate is for tls.Config.GetCertificate: the pair in service. When the
// files were last looked at an Interval ago or more, it starts a look at them, whose
// outcome the handshakes after it see.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	interval := f.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	f.mu.Lock()
	if now := f.now(); !f.looking && now.Sub(f.checked) >= interval {
		f.checked, f.looking = now, true
		f.looks.Add(1)
		go f.look()
	}
	f.mu.Unlock()
	return f.cur.Load(), nil
}

// look loads the files if their contents changed since the last look.
func (f *Files) look() {
	defer f.looks.Done()
	defer func() {
		f.mu.Lock()
		f.looking = false
		f.mu.Unlock()
	}()
	state, certPEM, keyPEM, err := f.read()
	if err != nil {
		// Not a change of the files: the pair in service stays, and so does what was
		// loaded or failed, for the look that reads them again.
		if !f.unreadable {
			f.unreadable = true
			if tell := f.OnUnreadable; tell != nil {
				tell(err)
			} else if f.OnError != nil {
				f.OnError(err)
			}
		}
		return
	}
	if f.unreadable {
		f.unreadable = false
		if state == f.loaded && f.OnReadable != nil {
			f.OnReadable()
		}
	}
	if state == f.loaded || state == f.failed {
		return
	}
	c, err := f.load(certPEM, keyPEM)
	if err != nil {
		f.failed = state
		if f.OnError != nil {
			f.OnError(err)
		}
		return
	}
	f.cur.Store(c)
	f.loaded, f.failed = state, ""
	if f.OnReload != nil {
		f.OnReload(c.Leaf)
	}
}

// read reads both files and sums up their contents. The sum is what a look compares;
// unlike size and modification time it cannot miss a change.
func (f *Files) read() (state string, certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(f.certPath); err != nil {
		return "", nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(f.keyPath); err != nil {
		return "", nil, nil, fmt.Errorf("TLS key: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(certPEM)) // so that no two pairs of contents sum up alike
	h.Write(certPEM)
	h.Write(keyPEM)
	return string(h.Sum(nil)), certPEM, keyPEM, nil
}

func (f *Files) load(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, invalidPair{fmt.Errorf("TLS certificate %s with key %s: %w", f.certPath, f.keyPath, err)}
	}
	// X509KeyPair has parsed the leaf (Go 1.23+); it is what OnReload reports.
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, invalidPair{fmt.Errorf("TLS certificate %s: %w", f.certPath, err)}
		}
	}
	return &c, nil
}
