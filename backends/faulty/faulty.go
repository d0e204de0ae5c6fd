// Package faulty is a fault-injecting storage.Driver wrapper for tests: it makes the
// operations of the driver it wraps fail now and then, the way a flaky network or a
// restarting server would, so that retry logic and the conformance suite can be
// exercised without a real outage.
//
// Every injected error is storage.NewError(storage.ErrUnavailable, ...) wrapping
// ErrInjected, so it is classified retryable and can be told apart from the inner
// driver's own errors with errors.Is.
//
// Faults are only ever injected before the inner operation can commit: a call fails
// before it reaches the inner driver, a Put's reader is cut before its end (an atomic
// inner driver then stores nothing), a Get body or a listing is cut midway (reads never
// commit anything). A retry of a failed call is therefore well defined, conditional puts
// included: the failed attempt changed nothing. A real network can also fail AFTER the
// server committed (the response is lost); that case is deliberately not simulated,
// because no client can retry it safely without help from the server.
//
// The package knows only the storage contract, not any concrete backend.
package faulty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/lectern/lectern/core/storage"
)

// ErrInjected is the cause of every injected error.
var ErrInjected = errors.New("injected fault")

// Op selects the operations faults are injected into.
type Op uint8

// Operations. Close is never faulted.
const (
	OpPut Op = 1 << iota
	OpGet
	OpStat
	OpDelete
	OpList
	AllOps = OpPut | OpGet | OpStat | OpDelete | OpList
)

// Kind selects how a faulted call fails.
type Kind uint8

// Kinds of fault. A faulted call picks one of the enabled kinds that apply to it at
// random; Before applies to every operation.
const (
	// Before: the call fails without reaching the inner driver.
	Before Kind = 1 << iota
	// CutPutReader: the inner Put gets a reader that fails before its end.
	CutPutReader
	// CutGetBody: the inner Get succeeds but its body fails partway.
	CutGetBody
	// CutList: the listing fails after some of its entries.
	CutList
	AllKinds = Before | CutPutReader | CutGetBody | CutList
)

// Config decides which calls fail. A call is eligible when its operation is in Ops; an
// eligible call fails when it is the Every-th eligible call (Every > 0) or, otherwise,
// with the given Probability drawn from an RNG seeded with Seed.
type Config struct {
	Ops         Op      // zero means AllOps
	Kinds       Kind    // zero means Before
	Every       int     // fail every Nth eligible call; 0 disables
	Probability float64 // in [0, 1]; used when Every is 0
	Seed        uint64
}

// Switch is an outage switch shared by any number of wrapped drivers, standing in for
// a server that goes away and comes back. While it is down every call fails.
type Switch struct{ down atomic.Bool }

// Down starts an outage.
func (s *Switch) Down() { s.down.Store(true) }

// Up ends it.
func (s *Switch) Up() { s.down.Store(false) }

// IsDown reports whether an outage is in progress.
func (s *Switch) IsDown() bool { return s != nil && s.down.Load() }

// Driver wraps another driver and injects faults into it. It owns the inner driver:
// Close closes it.
type Driver struct {
	inner  storage.Driver
	cfg    Config
	outage *Switch

	mu    sync.Mutex // guards rng and calls
	rng   *rand.Rand
	calls int

	injected atomic.Int64
}

var _ storage.Driver = (*Driver)(nil)

// New wraps inner. outage may be nil.
func New(inner storage.Driver, cfg Config, outage *Switch) *Driver {
	if cfg.Ops == 0 {
		cfg.Ops = AllOps
	}
	if cfg.Kinds == 0 {
		cfg.Kinds = Before
	}
	return &Driver{inner: inner, cfg: cfg, outage: outage, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
}

// Injected returns how many faults have been injected so far (outages included), so
// that a test can check that it exercised something.
func (d *Driver) Injected() int64 { return d.injected.Load() }

// decide returns the kind of fault for this call (0 for none) and, for the cutting
// kinds, a random number used to place the cut.
func (d *Driver) decide(op Op, applicable Kind) (Kind, uint64) {
	if d.outage.IsDown() {
		return Before, 0
	}
	if d.cfg.Ops&op == 0 {
		return 0, 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	fail := false
	if d.cfg.Every > 0 {
		fail = d.calls%d.cfg.Every == 0
	} else if d.cfg.Probability > 0 {
		fail = d.rng.Float64() < d.cfg.Probability
	}
	if !fail {
		return 0, 0
	}
	var kinds []Kind
	for k := Before; k <= CutList; k <<= 1 {
		if d.cfg.Kinds&applicable&k != 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return 0, 0
	}
	return kinds[d.rng.IntN(len(kinds))], d.rng.Uint64()
}

func (d *Driver) fault(op, key, what string) error {
	d.injected.Add(1)
	return storage.NewError(storage.ErrUnavailable, op, key, fmt.Errorf("%w: %s", ErrInjected, what))
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	kind, n := d.decide(OpPut, Before|CutPutReader)
	switch kind {
	case Before:
		return storage.Attributes{}, d.fault("put", key, "before put")
	case CutPutReader:
		// Cut within the first half of a known size (or at once when the size is
		// unknown or zero), so that the cut always happens before the end.
		var at int64
		if opts.Size > 1 {
			at = int64(n % uint64(opts.Size/2))
		}
		r = &cutReader{r: r, left: at, err: func() error { return d.fault("put", key, fmt.Sprintf("put reader cut after %d bytes", at)) }}
	}
	return d.inner.Put(ctx, key, r, opts)
}

// cutReader passes left bytes through, then fails.
type cutReader struct {
	r    io.Reader
	left int64
	err  func() error
	done error
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.done != nil {
		return 0, c.done
	}
	if c.left <= 0 {
		c.done = c.err()
		return 0, c.done
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// Get implements storage.Driver.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	kind, n := d.decide(OpGet, Before|CutGetBody)
	if kind == Before {
		return nil, storage.Attributes{}, d.fault("get", key, "before get")
	}
	rc, attrs, err := d.inner.Get(ctx, key, offset, length)
	if err != nil || kind != CutGetBody {
		return rc, attrs, err
	}
	avail := max(attrs.Size-offset, 0)
	if length >= 0 {
		avail = min(avail, length)
	}
	at := int64(n % uint64(avail+1)) // may be avail itself: the error then replaces EOF
	return &cutBody{cutReader: cutReader{r: rc, left: at, err: func() error {
		return d.fault("get", key, fmt.Sprintf("body cut after %d bytes", at))
	}}, c: rc}, attrs, nil
}

type cutBody struct {
	cutReader
	c io.Closer
}

func (b *cutBody) Close() error { return b.c.Close() }

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if kind, _ := d.decide(OpStat, Before); kind != 0 {
		return storage.Attributes{}, d.fault("stat", key, "before stat")
	}
	return d.inner.Stat(ctx, key)
}

// Delete implements storage.Driver.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if kind, _ := d.decide(OpDelete, Before); kind != 0 {
		return d.fault("delete", key, "before delete")
	}
	return d.inner.Delete(ctx, key)
}

// List implements storage.Driver. The decision is taken when iteration starts, so
// that an iterator ranged over twice is faulted independently each time.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		kind, n := d.decide(OpList, Before|CutList)
		if kind == Before {
			yield(storage.Attributes{}, d.fault("list", prefix, "before list"))
			return
		}
		cutAt := -1
		if kind == CutList {
			cutAt = int(n % 64) // small, so that short listings are cut too
		}
		i := 0
		for a, err := range d.inner.List(ctx, prefix) {
			if i == cutAt {
				yield(storage.Attributes{}, d.fault("list", prefix, fmt.Sprintf("listing cut after %d entries", i)))
				return
			}
			i++
			if !yield(a, err) || err != nil {
				return
			}
		}
		if cutAt >= 0 && i <= cutAt { // the listing was shorter than the cut: cut it at its end
			yield(storage.Attributes{}, d.fault("list", prefix, fmt.Sprintf("listing cut after %d entries", i)))
		}
	}
}

// Capabilities implements storage.Driver: those of the inner driver.
func (d *Driver) Capabilities() storage.Capabilities { return d.inner.Capabilities() }

// Close implements storage.Driver; it is never faulted.
func (d *Driver) Close() error { return d.inner.Close() }
