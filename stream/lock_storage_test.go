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
