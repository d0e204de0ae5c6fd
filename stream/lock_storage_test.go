package stream

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/storage"
)

// A lease that cannot be taken because the storage fails, or is still silent when the
// request's wait for the lock ends, is the storage's trouble: 503 with Retry-After,
// not 423 ("another request is using this upload"), which it used to be whenever the
// storage's own timeout (SMB's 30 s) outlasted tusd's 20 s wait for the lock. A
// holder that keeps the lease still gives 423 (TestLeaseLocker).
func TestLeaseOnAFailingStorageIsUnavailableNotLocked(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the storage fail: d is the driver under the bucket.
		fail func(d *hangingDriver, sw *refusingSwitch)
	}{
		{"hung past the lock's wait", func(d *hangingDriver, _ *refusingSwitch) { d.hang.Store(true) }},
		{"refusing", func(_ *hangingDriver, sw *refusingSwitch) { sw.down = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sw := &refusingSwitch{}
				d := &hangingDriver{Driver: &refusing{Driver: memory.New(memory.NewStore()), sw: sw}}
				cfg := Config{Bucket: storage.NewBucket(d), LockTTL: 3 * time.Second, Now: time.Now, Logger: discardLogger()}
				l, err := newLeaseLocker(cfg).NewLock(tusID("conf-a", strings.Repeat("a", 32)))
				if err != nil {
					t.Fatal(err)
				}
				tt.fail(d, sw)
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // tusd's wait for a lock
				defer cancel()
				if err := l.Lock(ctx, func() {}); !errors.Is(err, errUnavailable) {
					t.Fatalf("Lock on a failing storage: %v, want %v", err, errUnavailable)
				}
			})
		})
	}
}

// refusingSwitch and refusing make every read and write fail as unavailable while
// down, as a storage server that refuses connections.
type refusingSwitch struct{ down bool }

type refusing struct {
	storage.Driver
	sw *refusingSwitch
}

func (r *refusing) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if r.sw.down {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "stat", key, errors.New("connection refused"))
	}
	return r.Driver.Stat(ctx, key)
}

func (r *refusing) Put(ctx context.Context, key string, rd io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if r.sw.down {
		return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("connection refused"))
	}
	return r.Driver.Put(ctx, key, rd, o)
}

func (r *refusing) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if r.sw.down {
		return nil, storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "get", key, errors.New("connection refused"))
	}
	return r.Driver.Get(ctx, key, offset, length)
}

// slowDriver answers every call, after delay: a healthy storage under load. A call
// whose context ends first fails with the context's error, as SMB and S3 do.
type slowDriver struct {
	storage.Driver
	delay time.Duration
}

func (d *slowDriver) wait(ctx context.Context) error {
	select {
	case <-time.After(d.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *slowDriver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if err := d.wait(ctx); err != nil {
		return nil, storage.Attributes{}, err
	}
	return d.Driver.Get(ctx, key, offset, length)
}

func (d *slowDriver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if err := d.wait(ctx); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Put(ctx, key, r, opts)
}

// A request waiting for a lease another request holds is answered 423 when its wait
// runs out, also when that happens during a look at the lease on a slow storage
// (which the first version of the 503 rule above answered 503: in 13 of 100 waits
// with 30 ms calls). In a synctest bubble, the deadline is moved across the phase of
// the look so that it lands in every part of it.
func TestWaitForAHeldLeaseOnASlowStorageIsLocked(t *testing.T) {
	for _, delay := range []time.Duration{30 * time.Millisecond, 700 * time.Millisecond} {
		for phase := range 20 {
			synctest.Test(t, func(t *testing.T) {
				d := &slowDriver{Driver: memory.New(memory.NewStore()), delay: delay}
				cfg := Config{Bucket: storage.NewBucket(d), LockTTL: 3 * time.Second, Now: time.Now, Logger: discardLogger()}
				id := tusID("conf-a", strings.Repeat("a", 32))
				holder, err := newLeaseLocker(cfg).NewLock(id)
				if err != nil {
					t.Fatal(err)
				}
				if err := holder.Lock(t.Context(), func() {}); err != nil { // never lets go
					t.Fatal(err)
				}
				defer func() { _ = holder.Unlock() }()
				waiter, err := newLeaseLocker(cfg).NewLock(id) // another instance
				if err != nil {
					t.Fatal(err)
				}
				wait := 5*time.Second + time.Duration(phase)*delay/10
				ctx, cancel := context.WithTimeout(t.Context(), wait)
				defer cancel()
				if err := waiter.Lock(ctx, func() {}); !errors.Is(err, errLocked) {
					t.Errorf("calls of %v, wait of %v: %v, want %v", delay, wait, err, errLocked)
				}
			})
		}
	}
}
