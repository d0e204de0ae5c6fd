package conformance

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// RemoveLeftovers is optional (storage.LeftoverRemover). Whatever a backend counts
// as a leftover, removing the leftovers must never cost a stored object or a write
// that began after the given time; those are what this group checks, since a
// leftover itself can only be made by killing a process. Every check skips on a
// backend whose driver does not implement it, after checking that
// Bucket.RemoveLeftovers then does nothing.
func leftoverChecks() []check {
	return []check{
		{"stored_objects_untouched", leftoversKeepStored},
		{"write_begun_after_the_time_survives", leftoversKeepNewWrite},
		{"closed_driver", leftoversClosed},
	}
}

func (e *env) needLeftoverRemover() {
	e.t.Helper()
	if n, ok, err := e.b.RemoveLeftovers(e.ctx, time.Now()); !ok {
		if n != 0 || err != nil {
			e.t.Fatalf("Bucket.RemoveLeftovers on a driver without storage.LeftoverRemover = %d, %v; want 0, nil", n, err)
		}
		e.t.Skip("the driver does not implement storage.LeftoverRemover")
	}
}

// leftoversKeepStored: after small and large puts, a replace and a put cancelled
// half-way, removing every leftover up to an hour from now leaves each stored object
// as it was.
func leftoversKeepStored(t *testing.T, e *env) {
	e.needLeftoverRemover()
	large := payload(12<<20, "leftovers large")
	e.put("lo/small", []byte("small"))
	e.put("lo/large", large)
	e.put("lo/replaced", []byte("first"))
	e.put("lo/replaced", []byte("second"))

	ctx, cancel := context.WithCancel(e.ctx)
	r := &cancelAfter{r: bytes.NewReader(payload(12<<20, "cancelled")), n: 6 << 20, cancel: cancel}
	if _, err := e.b.Put(ctx, "lo/cancelled", r, storage.PutOptions{Size: -1}); err == nil {
		t.Fatal("a Put whose context was cancelled half-way succeeded")
	}

	if _, _, err := e.b.RemoveLeftovers(e.ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("RemoveLeftovers: %v", err)
	}
	e.wantContent(e.b, "lo/small", []byte("small"))
	e.wantContent(e.b, "lo/large", large)
	e.wantContent(e.b, "lo/replaced", []byte("second"))
	e.wantMissing(e.b, "lo/cancelled")
	e.wantKeys(e.b, "lo/", "lo/large", "lo/replaced", "lo/small")
}

// leftoversKeepNewWrite: a large put is half-way when the leftovers of writes begun
// before it (a minute before, for clock skew between client and server) are
// removed; it completes with its bytes.
func leftoversKeepNewWrite(t *testing.T, e *env) {
	e.needLeftoverRemover()
	before := time.Now().Add(-time.Minute)
	data := payload(12<<20, "leftovers concurrent")
	r := &gate{r: bytes.NewReader(data), at: 6 << 20, reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := e.b.Put(e.ctx, "lo/running", r, storage.PutOptions{Size: -1})
		done <- err
	}()
	select {
	case <-r.reached:
	case err := <-done:
		t.Fatalf("the Put ended before it was half-way: %v", err)
	}
	_, _, err := e.b.RemoveLeftovers(e.ctx, before)
	close(r.release)
	if err != nil {
		t.Fatalf("RemoveLeftovers: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the Put running during RemoveLeftovers failed: %v", err)
	}
	e.wantContent(e.b, "lo/running", data)
}

func leftoversClosed(t *testing.T, e *env) {
	e.needLeftoverRemover()
	b := e.instance()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, _, err := b.RemoveLeftovers(e.ctx, time.Now())
	wantKind(t, err, storage.ErrClosed, "RemoveLeftovers on a closed driver")
}

// cancelAfter reads r and cancels once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	read   int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.n {
		c.cancel()
		return 0, context.Canceled
	}
	p = p[:min(len(p), c.n-c.read)]
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// gate reads r up to at bytes, then closes reached and waits for release.
type gate struct {
	r       io.Reader
	at      int
	read    int
	reached chan struct{}
	release chan struct{}
}

func (g *gate) Read(p []byte) (int, error) {
	if g.read == g.at {
		close(g.reached)
		<-g.release
		g.at = -1
	}
	if g.at > 0 {
		p = p[:min(len(p), g.at-g.read)]
	}
	n, err := g.r.Read(p)
	g.read += n
	return n, err
}
