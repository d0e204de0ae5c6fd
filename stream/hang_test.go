package stream

import (
	"context"
	"errors"
	"io"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/storage"
)

// hangingDriver answers nothing while hang is set: every call waits until its
// context ends, as on a storage server that accepts requests and never answers.
type hangingDriver struct {
	storage.Driver
	hang atomic.Bool
}

func (d *hangingDriver) wait(ctx context.Context) error {
	if !d.hang.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (d *hangingDriver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if err := d.wait(ctx); err != nil {
		return nil, storage.Attributes{}, err
	}
	return d.Driver.Get(ctx, key, offset, length)
}

func (d *hangingDriver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if err := d.wait(ctx); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Put(ctx, key, r, opts)
}

func (d *hangingDriver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if err := d.wait(ctx); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Stat(ctx, key)
}

func (d *hangingDriver) Delete(ctx context.Context, key string) error {
	if err := d.wait(ctx); err != nil {
		return err
	}
	return d.Driver.Delete(ctx, key)
}

func (d *hangingDriver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		if err := d.wait(ctx); err != nil {
			yield(storage.Attributes{}, err)
			return
		}
		for a, err := range d.Driver.List(ctx, prefix) {
			if !yield(a, err) {
				return
			}
		}
	}
}

// The storage hangs while a lease is held, with a renewal round in flight: Unlock
// (which a PATCH handler calls on its way out) still returns, with the timeout, once
// backgroundTimeout has passed. Before, the round waited on a context without a
// deadline and Unlock waited for the round: the handler never ended. In a synctest
// bubble, a wait that never ends is a deadlock and fails the test.
func TestLeaseUnlockEndsWhenStorageHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &hangingDriver{Driver: memory.New(memory.NewStore())}
		cfg := Config{Bucket: storage.NewBucket(d), LockTTL: 3 * time.Second, Now: time.Now, Logger: discardLogger()}
		l, err := newLeaseLocker(cfg).NewLock(tusID("conf-a", strings.Repeat("a", 32)))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Lock(t.Context(), func() {}); err != nil {
			t.Fatal(err)
		}
		d.hang.Store(true)
		time.Sleep(cfg.LockTTL / 2) // past a renewal's due time: the round now hangs
		synctest.Wait()
		start := time.Now()
		err = l.Unlock()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Unlock with the storage hung: %v, want a deadline error", err)
		}
		if took := time.Since(start); took > 2*backgroundTimeout {
			t.Errorf("Unlock took %v of the bubble's clock, want at most %v", took, 2*backgroundTimeout)
		}
		d.hang.Store(false)
	})
}

// A step of a PATCH failed, the client has left, and the storage hangs: the check
// whether the upload vanished gives up after backgroundTimeout and the step's own
// failure is answered. Before, the check waited on the storage without a deadline.
func TestOrVanishedEndsWhenStorageHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &hangingDriver{Driver: memory.New(memory.NewStore())}
		d.hang.Store(true)
		s := &store{cfg: Config{Bucket: storage.NewBucket(d)}, log: discardLogger()}
		u := &upload{s: s, conf: "c", id: strings.Repeat("a", 32), rec: &record{Size: -1}}
		failure := storage.NewError(storage.ErrUnavailable, "put", u.prefix()+"part", nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // the client left
		if err := u.orVanished(ctx, failure); err != failure {
			t.Errorf("orVanished with the storage hung: %v, want the step's own failure %v", err, failure)
		}
	})
}
