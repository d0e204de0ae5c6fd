package stream

import (
	"context"
	"sync"

	"github.com/tus/tusd/v2/pkg/handler"
)

// gatedLocker wraps the locker tusd uses so that a request holding an upload's lock
// is asked to let go (tusd's requestUnlock, which cancels the request with
// ErrUploadInterrupted) only once that request can be safely interrupted.
//
// Why: tusd (v2.8.0, and still v2.10.1) assigns a PATCH's body reader
// (httpContext.body) after taking the lock, without synchronisation, while the
// goroutine that reacts to that cancellation reads the field to close the body. A
// release asked for between the lock and that assignment is a data race inside tusd,
// which the race detector reports (TestRacingPatchesOfOneUpload found it). The upload
// store opens the gate when tusd calls WriteChunk, which it does right after the
// assignment, in the same goroutine: the cancellation then happens after the write.
// A request that holds the lock but never writes (HEAD, a refused PATCH) is not
// interrupted; it lets go by itself a moment later, and its waiter gets the lock then.
type gatedLocker struct {
	inner handler.Locker

	mu    sync.Mutex
	gates map[string]*releaseGate // by tusd upload id: the holder's in this process
}

func newGatedLocker(inner handler.Locker) *gatedLocker {
	return &gatedLocker{inner: inner, gates: map[string]*releaseGate{}}
}

// NewLock implements handler.Locker.
func (l *gatedLocker) NewLock(id string) (handler.Lock, error) {
	lock, err := l.inner.NewLock(id)
	if err != nil {
		return nil, err
	}
	return &gatedLock{l: l, id: id, inner: lock}, nil
}

// openGate lets release requests reach the request that holds the upload's lock in
// this process, delivering one that is already waiting. Without a holder here (the
// upload is not locked by this process) it does nothing.
func (l *gatedLocker) openGate(id string) {
	l.mu.Lock()
	g := l.gates[id]
	l.mu.Unlock()
	if g != nil {
		g.open()
	}
}

type gatedLock struct {
	l     *gatedLocker
	id    string
	inner handler.Lock
	gate  *releaseGate
}

// Lock implements handler.Lock.
func (x *gatedLock) Lock(ctx context.Context, requestUnlock func()) error {
	g := &releaseGate{unlock: requestUnlock}
	if err := x.inner.Lock(ctx, g.request); err != nil {
		return err
	}
	x.gate = g
	x.l.mu.Lock()
	x.l.gates[x.id] = g
	x.l.mu.Unlock()
	return nil
}

// Unlock implements handler.Lock.
func (x *gatedLock) Unlock() error {
	x.l.mu.Lock()
	if x.gate != nil && x.l.gates[x.id] == x.gate {
		delete(x.l.gates, x.id)
	}
	x.l.mu.Unlock()
	return x.inner.Unlock()
}

// releaseGate holds back one holder's release requests until it is opened.
type releaseGate struct {
	mu      sync.Mutex
	opened  bool
	pending bool
	unlock  func()
}

func (g *releaseGate) request() {
	g.mu.Lock()
	deliver := g.opened
	if !deliver {
		g.pending = true
	}
	g.mu.Unlock()
	if deliver {
		g.unlock()
	}
}

func (g *releaseGate) open() {
	g.mu.Lock()
	deliver := !g.opened && g.pending
	g.opened = true
	g.mu.Unlock()
	if deliver {
		g.unlock()
	}
}
