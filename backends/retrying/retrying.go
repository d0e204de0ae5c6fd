// Package retrying is a storage.Driver wrapper that retries operations failing with a
// retryable error (storage.IsRetryable: storage.ErrUnavailable), with a bounded number
// of attempts and exponential backoff, and resumes a Get body or a listing interrupted
// midway from where it stopped.
//
// What it assumes: a retryable failure did not commit anything. That holds for the
// faults package faulty injects (it only injects before the inner operation commits),
// and for failures a backend reports before it sent the request. It does not hold for
// a response lost after the server committed: a retried create-only put could then
// report ErrPrecondition although it won, and a retried replace could report that its
// version no longer matches. Use it where that is acceptable, or on backends that
// classify such ambiguous outcomes as non-retryable.
//
// Errors that are not retryable (not found, precondition, invalid argument, an
// unclassified error, an error of the caller's own reader, context cancellation) are
// returned at once. A Put is retried only when its reader can be replayed: it is an
// io.Seeker, or nothing was read from it yet.
//
// The loop is written by hand rather than with a backoff library because each
// operation needs its own resume rule (replay a put's reader, reopen a body at an
// offset, skip listed keys), which is most of the code.
//
// The package knows only the storage contract, not any concrete backend.
package retrying

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// Policy bounds the retries. Attempts counts consecutive failures without progress:
// a body or a listing that advanced before failing starts counting again.
type Policy struct {
	MaxAttempts int           // total tries of one step, at least 1; 0 means 5
	BaseDelay   time.Duration // first backoff; 0 means 10ms
	MaxDelay    time.Duration // backoff cap; 0 means 1s
	Logger      *slog.Logger  // nil means slog.Default()
}

// Driver retries the inner driver's retryable failures. It owns the inner driver:
// Close closes it.
type Driver struct {
	inner storage.Driver
	p     Policy
}

var _ storage.Driver = (*Driver)(nil)

// New wraps inner.
func New(inner storage.Driver, p Policy) *Driver {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 10 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &Driver{inner: inner, p: p}
}

// again reports whether the step that failed with err on its attempt-th try may be
// tried again, after waiting out the backoff.
func (d *Driver) again(ctx context.Context, op, key string, attempt int, err error) bool {
	if !storage.IsRetryable(err) || attempt >= d.p.MaxAttempts || ctx.Err() != nil {
		return false
	}
	delay := d.p.MaxDelay
	if shift := attempt - 1; shift < 62 && d.p.BaseDelay <= d.p.MaxDelay>>shift {
		delay = d.p.BaseDelay << shift // (tested first: shifted far, it overflows)
	}
	delay = delay/2 + rand.N(delay/2+1) // jitter, so that racing clients spread out
	d.p.Logger.DebugContext(ctx, "storage: retrying", "op", op, "key", key, "attempt", attempt, "delay", delay, "err", err)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// giveUp is the error of a step that will not be tried again: when the context ended
// the wait, the caller learns that rather than the transient failure before it.
func giveUp(ctx context.Context, err error) error {
	if cerr := ctx.Err(); err != nil && cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (after a retryable failure: %v)", cerr, err)
	}
	return err
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	tr := &trackingReader{r: r}
	seeker, _ := r.(io.Seeker)
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil // not really seekable (a pipe behind an *os.File)
		}
	}
	for attempt := 1; ; attempt++ {
		a, err := d.inner.Put(ctx, key, tr, opts)
		if err == nil {
			return a, nil
		}
		if tr.err != nil { // the caller's reader failed: its problem, not the storage's
			return storage.Attributes{}, err
		}
		if tr.n > 0 {
			if seeker == nil {
				return storage.Attributes{}, err
			}
			if _, serr := seeker.Seek(start, io.SeekStart); serr != nil {
				return storage.Attributes{}, err
			}
			tr.n = 0
		}
		if !d.again(ctx, "put", key, attempt, err) {
			return storage.Attributes{}, giveUp(ctx, err)
		}
	}
}

// trackingReader counts what was read and keeps the caller's reader's own error.
type trackingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// Get implements storage.Driver. The body it returns resumes after a retryable
// failure by reopening the object at the offset reached, provided that the object's
// version did not change meanwhile; if it did, the read fails with a retryable error,
// because what was already delivered belongs to the old version.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	for attempt := 1; ; attempt++ {
		rc, a, err := d.inner.Get(ctx, key, offset, length)
		if err == nil {
			return &body{d: d, ctx: ctx, key: key, rc: rc, version: a.Version, offset: offset, length: length}, a, nil
		}
		if !d.again(ctx, "get", key, attempt, err) {
			return nil, storage.Attributes{}, giveUp(ctx, err)
		}
	}
}

// ErrChanged is the cause of the error a resumed body returns when the object was
// replaced while it was being read.
var ErrChanged = errors.New("object changed while being read")

type body struct {
	d       *Driver
	ctx     context.Context
	key     string
	rc      io.ReadCloser
	version string
	offset  int64 // of the next byte
	length  int64 // left to read, -1 for "to the end"
	failed  int   // consecutive failures without progress
	// pending is a failure that came together with bytes: those bytes were returned
	// first, and the failure is handled on the next Read. It is kept here rather than
	// expected again from rc, because a reader need not repeat its error (some answer
	// io.EOF after it, which would end the body early without an error).
	pending error
}

func (b *body) Read(p []byte) (int, error) {
	for {
		if b.length == 0 {
			return 0, io.EOF
		}
		if b.length > 0 && int64(len(p)) > b.length {
			p = p[:b.length]
		}
		var n int
		var err error
		if b.pending != nil {
			err, b.pending = b.pending, nil
		} else {
			n, err = b.rc.Read(p)
		}
		b.offset += int64(n)
		if b.length > 0 {
			b.length -= int64(n)
		}
		if n > 0 {
			b.failed = 0
		}
		if err == nil || err == io.EOF || n > 0 {
			if err != nil && err != io.EOF {
				// Report the bytes now and the failure on the next Read.
				b.pending, err = err, nil
			}
			return n, err
		}
		b.failed++
		if !b.d.again(b.ctx, "get", b.key, b.failed, err) {
			return 0, giveUp(b.ctx, err)
		}
		if rerr := b.reopen(); rerr != nil {
			return 0, rerr
		}
	}
}

func (b *body) reopen() error {
	_ = b.rc.Close()
	b.rc = io.NopCloser(eofReader{})
	for {
		rc, a, err := b.d.inner.Get(b.ctx, b.key, b.offset, b.length)
		if err == nil {
			if b.version == "" || a.Version != b.version {
				_ = rc.Close()
				return storage.NewError(storage.ErrUnavailable, "get", b.key, fmt.Errorf("%w: cannot resume at byte %d", ErrChanged, b.offset))
			}
			b.rc = rc
			return nil
		}
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalidRange) {
			// Deleted, or replaced by a shorter object, since the body was opened.
			return storage.NewError(storage.ErrUnavailable, "get", b.key, fmt.Errorf("%w: cannot resume at byte %d: %w", ErrChanged, b.offset, err))
		}
		b.failed++
		if !b.d.again(b.ctx, "get", b.key, b.failed, err) {
			return giveUp(b.ctx, err)
		}
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (b *body) Close() error { return b.rc.Close() }

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	for attempt := 1; ; attempt++ {
		a, err := d.inner.Stat(ctx, key)
		if err == nil || !d.again(ctx, "stat", key, attempt, err) {
			return a, giveUp(ctx, err)
		}
	}
}

// Delete implements storage.Driver; deleting is idempotent, so a retry is always safe.
func (d *Driver) Delete(ctx context.Context, key string) error {
	for attempt := 1; ; attempt++ {
		err := d.inner.Delete(ctx, key)
		if err == nil || !d.again(ctx, "delete", key, attempt, err) {
			return giveUp(ctx, err)
		}
	}
}

// List implements storage.Driver. A listing that fails midway is listed again and
// the keys up to the last one already yielded are skipped, which the contract's
// ascending order makes exact.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		last, started := "", false
		for attempt := 1; ; attempt++ {
			var failure error
			for a, err := range d.inner.List(ctx, prefix) {
				if err != nil {
					failure = err
					break
				}
				if started && a.Key <= last {
					continue
				}
				last, started, attempt = a.Key, true, 1
				if !yield(a, nil) {
					return
				}
			}
			if failure == nil {
				return
			}
			if !d.again(ctx, "list", prefix, attempt, failure) {
				yield(storage.Attributes{}, giveUp(ctx, failure))
				return
			}
		}
	}
}

// Capabilities implements storage.Driver: those of the inner driver.
func (d *Driver) Capabilities() storage.Capabilities { return d.inner.Capabilities() }

// Close implements storage.Driver.
func (d *Driver) Close() error { return d.inner.Close() }
