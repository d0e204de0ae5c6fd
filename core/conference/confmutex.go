package conference

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// confMutex is a conference's lock: a mutex that a request can stop waiting for
// when its context ends. A change holds it across storage writes, which take as
// long as the backend does (minutes, when S3 is slow and the SDK retries); with a
// sync.Mutex every request for the conference that came meanwhile would wait that
// long too, whether or not its client was still there, and then do its work for
// nobody. A semaphore of one (golang.org/x/sync) is such a mutex.
type confMutex struct{ sem *semaphore.Weighted }

func newConfMutex() confMutex { return confMutex{sem: semaphore.NewWeighted(1)} }

// Lock waits for the lock however long it takes: for the engine's own work
// (closing, dropping a deleted conference), which must not be abandoned midway.
func (m confMutex) Lock() { _ = m.sem.Acquire(context.Background(), 1) }

// LockContext waits for the lock until ctx ends, and then returns ctx's error
// without the lock.
func (m confMutex) LockContext(ctx context.Context) error { return m.sem.Acquire(ctx, 1) }

// Unlock releases the lock.
func (m confMutex) Unlock() { m.sem.Release(1) }
