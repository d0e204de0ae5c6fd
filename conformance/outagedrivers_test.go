package conformance_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/storage"
)

// The outage drivers of brokenDrivers, which TestBrokenHelper runs with a
// ServerControl: they fail as a remote backend does while its server is down.

// serverDown is the outage drivers' server: the child process runs one driver's
// suite, one check at a time, so one switch serves them all.
var serverDown atomic.Bool

// outageSwitch is the harness's conformance.ServerControl for the outage drivers.
type outageSwitch struct{}

func (outageSwitch) Stop(testing.TB)  { serverDown.Store(true) }
func (outageSwitch) Start(testing.TB) { serverDown.Store(false) }

func unavailable(op, key string) error {
	return storage.NewError(storage.ErrUnavailable, op, key, errors.New("connection refused"))
}

// outage fails every operation as retryable while the server is down, as a remote
// backend does; it is the control of outageWritesAnyway.
type outage struct{ *memory.Driver }

func (d *outage) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if serverDown.Load() {
		return storage.Attributes{}, unavailable("put", key)
	}
	return d.Driver.Put(ctx, key, r, o)
}

func (d *outage) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if serverDown.Load() {
		return nil, storage.Attributes{}, unavailable("get", key)
	}
	return d.Driver.Get(ctx, key, offset, length)
}

func (d *outage) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if serverDown.Load() {
		return storage.Attributes{}, unavailable("stat", key)
	}
	return d.Driver.Stat(ctx, key)
}

func (d *outage) Delete(ctx context.Context, key string) error {
	if serverDown.Load() {
		return unavailable("delete", key)
	}
	return d.Driver.Delete(ctx, key)
}

func (d *outage) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	if serverDown.Load() {
		return func(yield func(storage.Attributes, error) bool) {
			yield(storage.Attributes{}, unavailable("list", prefix))
		}
	}
	return d.Driver.List(ctx, prefix)
}

// outageWritesAnyway reports a put during the outage as failed although it landed,
// as a client that times out on a write the server completed would.
type outageWritesAnyway struct{ outage }

func (d *outageWritesAnyway) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if serverDown.Load() {
		if _, err := d.Driver.Put(ctx, key, r, o); err != nil {
			return storage.Attributes{}, err
		}
		return storage.Attributes{}, unavailable("put", key)
	}
	return d.Driver.Put(ctx, key, r, o)
}
