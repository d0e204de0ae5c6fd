package metastoretest

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/lectern/lectern/core/storage"
)

// crashable wraps a driver so that a test can crash the Store using it while the
// Store's background snapshot is still running: Crash waits for writes already in
// flight and then refuses every later one, as a killed process would write nothing
// more. Reads still pass, but a crashed Store's reads change nothing.
type crashable struct {
	storage.Driver
	mu      sync.RWMutex
	crashed bool
}

var errCrashed = errors.New("the process has crashed")

func (c *crashable) write(op, key string, fn func() error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.crashed {
		return storage.NewError(storage.ErrUnavailable, op, key, errCrashed)
	}
	return fn()
}

// Crash returns once no write is in flight; none happens after.
func (c *crashable) Crash() {
	c.mu.Lock()
	c.crashed = true
	c.mu.Unlock()
}

func (c *crashable) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (attrs storage.Attributes, err error) {
	err = c.write("put", key, func() error {
		attrs, err = c.Driver.Put(ctx, key, r, o)
		return err
	})
	return attrs, err
}

func (c *crashable) Delete(ctx context.Context, key string) error {
	return c.write("delete", key, func() error { return c.Driver.Delete(ctx, key) })
}
