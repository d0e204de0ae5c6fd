package servers

import (
	"os"
	"sync"
	"testing"
)

// Shared is the one test server of a test process (a MinIO, a Samba): found or
// started on first use by Find, and stopped by Shutdown once all tests are done.
type Shared[S any] struct {
	// Backend names the backend for skip-or-fail decisions ("s3", "smb").
	Backend string
	// HowToEnable tells a user whose machine cannot provide the server what to do.
	HowToEnable string
	// Find finds or starts the server.
	Find func() (S, error)
	// Stop stops and removes a server that Find started (and does nothing for one
	// it only found).
	Stop func(S)

	once    sync.Once
	server  S
	err     error
	started bool
}

// Get returns the server, finding it on first use. When there is none it skips t,
// or fails it where the backend is required (see Unavailable).
func (h *Shared[S]) Get(t testing.TB) S {
	t.Helper()
	h.once.Do(func() {
		h.server, h.err = h.Find()
		h.started = h.err == nil
	})
	if h.err != nil {
		Unavailable(t, h.Backend, h.err.Error(), h.HowToEnable)
	}
	return h.server
}

// Shutdown stops the server if Get found one.
func (h *Shared[S]) Shutdown() {
	if h.started {
		h.Stop(h.server)
	}
}

// Main runs the tests, then the shutdowns, and exits with the tests' code:
// `func TestMain(m *testing.M) { servers.Main(m, minio.Shutdown) }`.
func Main(m *testing.M, shutdowns ...func()) {
	code := m.Run()
	for _, shutdown := range shutdowns {
		shutdown()
	}
	os.Exit(code)
}
