package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/lectern/lectern/core/storage"
)

// leaseLocker is a tusd Locker whose locks are lease objects in the upload's folder,
// taken with the storage contract's create-only put and taken over from an expired
// holder with replace-if-version, so that instances sharing a backend exclude each
// other (tusd's memorylocker only excludes within one process; its filelocker needs a
// shared file system with working lock files, which S3 is not).
//
// A holder renews its lease while it holds it and watches for an "unlock" object: a
// request that finds the lock held writes one naming the holder, and the holder then
// interrupts its request (tusd's requestUnlock), as tusd's in-memory locker does within
// a process. That is how a client that lost its connection can resume at once on
// another instance instead of waiting for the old request to time out.
type leaseLocker struct {
	b    *storage.Bucket
	ttl  time.Duration
	poll time.Duration
	now  func() time.Time
	log  *slog.Logger

	mu    sync.Mutex
	local map[string]*localHolder // holders in this process, by token
}

// localHolder lets a waiter in the same process ask a holder directly and wake up as
// soon as it lets go, instead of polling storage.
type localHolder struct {
	requestUnlock func()
	released      chan struct{}
}

func newLeaseLocker(cfg Config) *leaseLocker {
	return &leaseLocker{
		b: cfg.Bucket, ttl: cfg.LockTTL, poll: min(max(cfg.LockTTL/20, 50*time.Millisecond), time.Second),
		now: cfg.Now, log: cfg.Logger, local: map[string]*localHolder{},
	}
}

// NewLock returns an unlocked lock for a tusd upload id.
func (l *leaseLocker) NewLock(tid string) (handler.Lock, error) {
	conf, id, err := splitTusID(tid)
	if err != nil {
		return nil, err
	}
	p := uploadPrefix(conf, id)
	return &lease{l: l, key: p + lockObject, unlockKey: p + unlockObject}, nil
}

type lease struct {
	l         *leaseLocker
	key       string
	unlockKey string
	token     string
	version   string
	released  chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
}

func (x *lease) body() []byte {
	return []byte(strconv.FormatInt(x.l.now().Add(x.l.ttl).UnixMilli(), 10) + " " + x.token)
}

// Lock takes the lease, asking the current holder to let go, until ctx ends.
func (x *lease) Lock(ctx context.Context, requestUnlock func()) error {
	caller := ctx
	ctx, release := ownContext(ctx)
	defer release()
	var t [12]byte
	if _, err := rand.Read(t[:]); err != nil {
		return err
	}
	x.token = hex.EncodeToString(t[:])
	asked := ""
	// An unlock request written for a holder that let go before it read it would stay
	// in the upload's folder (after a termination, past the upload itself): whoever
	// wrote it takes it back, once it holds the lease or gives up.
	requested := ""
	defer func() {
		if requested != "" {
			x.withdrawUnlock(requested)
		}
	}()
	wait := 10 * time.Millisecond
	// A request whose client has gone must not wait on (and interrupt the holders
	// of) the lock: tusd's context outlives the client by a grace period.
	var gone <-chan struct{}
	waitOnly := false
	if rs := stateOf(ctx); rs != nil {
		if rs.client != nil {
			gone = rs.client.Done()
		}
		waitOnly = rs.waitOnly
	}
	sawHolder := false // a look at the lease has found another request holding it
	for {
		holder, err := x.try(ctx)
		if err == nil && holder == "" {
			break
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			// The wait for the lock (tusd's deadline) ran out during a look at the
			// lease. Having seen a holder, the request was waiting for it (423,
			// however slow the storage); having seen none, it was waiting for the
			// storage, whose own timeout is the longer one: the storage's trouble
			// (503). ownContext turns the caller's deadline into a cancellation,
			// hence the look at caller.
			if ctx.Err() != nil {
				if sawHolder || !errors.Is(caller.Err(), context.DeadlineExceeded) {
					return errLocked
				}
				err = fmt.Errorf("%w: the storage did not answer while the request waited for the upload's lease: %w", storage.ErrUnavailable, err)
			}
			return tusError(ctx, err)
		}
		if holder != "" {
			sawHolder = true
		}
		var released chan struct{}
		if holder != "" && !waitOnly {
			var wrote bool
			released, wrote = x.askToRelease(ctx, holder, holder != asked)
			asked = holder
			if wrote {
				requested = holder
			}
		}
		select {
		case <-ctx.Done():
			return errLocked
		case <-gone:
			return errLocked
		case <-released: // a holder in this process let go: try again at once
			wait = 10 * time.Millisecond
			continue
		case <-time.After(wait):
		}
		wait = min(wait*2, x.l.poll)
	}
	x.released = make(chan struct{})
	x.l.mu.Lock()
	x.l.local[x.token] = &localHolder{requestUnlock: requestUnlock, released: x.released}
	x.l.mu.Unlock()
	x.stop, x.stopped = make(chan struct{}), make(chan struct{})
	go x.hold(requestUnlock)
	return nil
}

// try attempts to take the lease once; it returns the current holder's token if
// someone else holds it.
func (x *lease) try(ctx context.Context) (holder string, err error) {
	attrs, err := x.l.b.PutBytes(ctx, x.key, x.body(), storage.Condition{IfNotExists: true})
	if err == nil {
		x.version = attrs.Version
		return "", nil
	}
	if !errors.Is(err, storage.ErrPrecondition) {
		return "", err
	}
	data, attrs, err := x.l.b.ReadAll(ctx, x.key)
	if err != nil {
		return "", err // ErrNotFound: released meanwhile; try again
	}
	exp, token := parseLease(data)
	if x.l.now().UnixMilli() < exp || !x.l.b.Capabilities().ConditionalReplace {
		// Without conditional replace an expired lease cannot be taken over safely;
		// it is waited out until its holder or the sweep removes it.
		return token, nil
	}
	attrs, err = x.l.b.PutBytes(ctx, x.key, x.body(), storage.Condition{IfVersion: attrs.Version})
	if errors.Is(err, storage.ErrPrecondition) {
		return token, nil // another waiter took it over first
	}
	if err != nil {
		return "", err
	}
	x.version = attrs.Version
	return "", nil
}

func parseLease(b []byte) (expMillis int64, token string) {
	e, t, _ := strings.Cut(string(b), " ")
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return 0, t // unreadable: treat as expired
	}
	return exp, t
}

// askToRelease asks the holder to let go (when ask is set) and returns, for a holder in
// this process, a channel closed when it has; wrote says that it wrote an unlock
// request object for the holder.
func (x *lease) askToRelease(ctx context.Context, holder string, ask bool) (released chan struct{}, wrote bool) {
	x.l.mu.Lock()
	h := x.l.local[holder]
	x.l.mu.Unlock()
	if h != nil {
		if ask {
			h.requestUnlock()
		}
		return h.released, false
	}
	if ask {
		if _, err := x.l.b.PutBytes(ctx, x.unlockKey, []byte(holder), storage.Condition{}); err != nil {
			x.l.log.Warn("upload unlock request not written", slog.String("error", err.Error()))
			return nil, false
		}
		return nil, true
	}
	return nil, false
}

// withdrawUnlock removes the unlock request for holder, if it is still there: the
// holder has let go (this lease was taken), or the request is no longer wanted.
func (x *lease) withdrawUnlock(holder string) {
	ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
	defer cancel()
	if data, _, err := x.l.b.ReadAll(ctx, x.unlockKey); err == nil && string(data) == holder {
		_ = x.l.b.Delete(ctx, x.unlockKey)
	}
}

// backgroundTimeout bounds each storage call the lease makes outside a request's
// context (a renewal round, Unlock, withdrawing an unlock request): a storage server
// that hangs must not keep a handler that waits for them from ending.
const backgroundTimeout = 10 * time.Second

// hold renews the lease and watches for release requests until Unlock. Each round's
// requests share one backgroundTimeout, and Unlock ends a round in flight: Unlock
// waits for hold to stop, and neither may wait on a hung storage for longer.
func (x *lease) hold(requestUnlock func()) {
	defer close(x.stopped)
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-x.stop:
			cancel()
		case <-life.Done():
		}
	}()
	renewEvery := x.l.ttl / 3
	lastRenew := time.Now()
	ticker := time.NewTicker(x.l.poll)
	defer ticker.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-ticker.C:
		}
		lastRenew = x.round(life, requestUnlock, renewEvery, lastRenew)
	}
}

// round is one round of hold: it answers an unlock request addressed to this holder
// and renews the lease when due; it returns the time of the last renewal.
func (x *lease) round(life context.Context, requestUnlock func(), renewEvery time.Duration, lastRenew time.Time) time.Time {
	ctx, cancel := context.WithTimeout(life, backgroundTimeout)
	defer cancel()
	if data, _, err := x.l.b.ReadAll(ctx, x.unlockKey); err == nil && string(data) == x.token {
		// Each request is answered (tusd's cancel is idempotent) and consumed, so
		// that a later waiter's request is seen too.
		_ = x.l.b.Delete(ctx, x.unlockKey)
		requestUnlock()
	}
	if time.Since(lastRenew) >= renewEvery {
		cond := storage.Condition{IfVersion: x.version}
		if !x.l.b.Capabilities().ConditionalReplace {
			cond = storage.Condition{}
		}
		attrs, err := x.l.b.PutBytes(ctx, x.key, x.body(), cond)
		switch {
		case err == nil:
			x.version, lastRenew = attrs.Version, time.Now()
		case errors.Is(err, storage.ErrPrecondition):
			// Someone took the lease over (this holder was stalled past the
			// TTL): stop writing at once. The create-only part puts keep the
			// two from ever storing the same segment twice.
			requestUnlock()
		case life.Err() != nil:
			// Unlock ended the round; it removes the lease itself.
		default:
			x.l.log.Warn("upload lease not renewed", slog.String("error", err.Error()))
		}
	}
	return lastRenew
}

// Unlock releases the lease if it is still this holder's.
func (x *lease) Unlock() error {
	if x.stop == nil {
		return nil
	}
	close(x.stop)
	<-x.stopped
	ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
	defer cancel()
	// Local waiters are woken once the lease object is gone (or was not ours).
	defer func() {
		x.l.mu.Lock()
		delete(x.l.local, x.token)
		x.l.mu.Unlock()
		close(x.released)
	}()
	if data, _, err := x.l.b.ReadAll(ctx, x.unlockKey); err == nil && string(data) == x.token {
		_ = x.l.b.Delete(ctx, x.unlockKey)
	}
	data, _, err := x.l.b.ReadAll(ctx, x.key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, token := parseLease(data); token != x.token {
		return nil // taken over; not ours to delete
	}
	return x.l.b.Delete(ctx, x.key)
}
