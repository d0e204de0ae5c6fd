package smb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

var _ storage.Appender = (*Driver)(nil)

// Append implements storage.Appender by writing into the key's own file, the one
// thing a Put never does (a Put writes a temporary file and renames it over the key's).
//
// Exclusion. The key's lock (lock.go) cannot guard a transfer: its holder must stop
// acting once it is staleAfter/2 old, because waiters break a lock they have seen
// unchanged for staleAfter, while a transfer lasts as long as its reader does (and a
// held lock also makes every reader of the key wait). Nor can a share mode keep a
// second writer out: go-smb2 always opens with FILE_SHARE_READ|FILE_SHARE_WRITE. So an
// Append first takes the key's append claim: a dot-named file next to the key's lock,
// created exclusively as the lock is, that its holder keeps open and grows by one byte
// every staleAfter/16 for as long as it writes. A second Append that finds the claim
// watches it: once it sees it grow or be replaced, a live Append holds it, and the
// second is refused with ErrPrecondition; when the claim goes, the second takes it (it
// waited for the first, and its version check then decides); when it stays unchanged
// for staleAfter, its holder died, and it is broken. That is the lock's stale rule, and
// safe for the same reasons: a holder stops writing once staleAfter/2 has passed since
// it sent its last renewal that succeeded, and its open handle (no FILE_SHARE_DELETE)
// makes a breaker's delete fail while it still writes.
//
// Versions. The key's lock is held only for moments: first to open the file, check the
// conditions and stamp a new last-write time (random sub-second digits, as a Put
// stamps): so the version changes before any byte does, and a writer holding the old
// version is refused even if this Append stops halfway. Then, without the lock, the
// file is cut at offset, written, flushed (SMB2 FLUSH) and closed. Last, under the lock
// again, the key is checked to still name the file written (its creation time: no
// Put, Move or Delete replaced it meanwhile, whose version this Append must not touch)
// and the final version is stamped, rather than kept from the times the server set
// while writing, so that two appends in one coarse clock tick cannot share a version.
func (d *Driver) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	if err := d.check("append", key); err != nil {
		return storage.Attributes{}, err
	}
	w, err := d.beginChange(ctx)
	if err != nil {
		return storage.Attributes{}, err
	}
	defer d.endChange(w)
	p := d.path(key)

	cl, err := d.claimAppend(ctx, w, key, p)
	if err != nil {
		return storage.Attributes{}, err
	}
	attrs, err := d.appendClaimed(ctx, cl, w, key, p, offset, r, ifVersion)
	w.o.note(cl.release(w.c, w.ioCtx))
	if errors.Is(err, storage.ErrNotFound) {
		// A Delete meanwhile could not prune the folder while our claim was in it.
		d.prune(w.sh, p)
	}
	return attrs, err
}

// appendClaimed is Append once the claim is held: its transfer runs on the claim's
// context, which ends when the caller's does or when the claim can no longer be
// renewed.
func (d *Driver) appendClaimed(ctx context.Context, cl *appendClaim, w *change, key, p string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	f, created, stamped, err := d.openForAppend(ctx, w, key, p, offset, ifVersion)
	if err != nil {
		return storage.Attributes{}, err
	}
	werr := cl.ctx.Err()
	if werr == nil {
		werr = w.o.note(f.Truncate(offset))
	}
	if werr == nil {
		_, werr = upload(cl.ctx, w.c.tcp, io.NewOffsetWriter(f, offset), r, d.cfg.InFlight, -1)
	}
	if werr == nil {
		werr = w.o.note(f.Sync())
	}
	if cerr := w.o.note(f.Close()); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = cl.ctx.Err()
	}
	if werr != nil {
		var re *readerError
		if errors.As(werr, &re) {
			return storage.Attributes{}, fmt.Errorf("smb append %q: reading the data: %w", key, re.err)
		}
		w.o.note(werr)
		if ctx.Err() == nil && cl.ctx.Err() != nil {
			return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "append", key, context.Cause(cl.ctx))
		}
		return storage.Attributes{}, classify("append", key, werr)
	}
	return d.finishAppend(ctx, w, key, p, created, stamped)
}

// openForAppend opens the key's file and, under the key's lock, checks it against the
// Append's conditions and stamps its new version. It returns the open file, its
// creation time (which identifies it at the end) and the stamp.
func (d *Driver) openForAppend(ctx context.Context, w *change, key, p string, offset int64, ifVersion string) (f *smb2.File, created, stamp time.Time, err error) {
	l, err := d.lock(ctx, w.ioCtx, w.c, "append", key, p)
	if errors.Is(err, errNoFolder) {
		return nil, created, stamp, storage.NewError(storage.ErrNotFound, "append", key, nil)
	}
	if err != nil {
		return nil, created, stamp, w.o.note(err)
	}
	defer func() { w.o.note(l.release(w.c, w.ioCtx)) }()
	err = d.retryBusy(ctx, "append", key, l, func() error {
		var oerr error
		f, oerr = w.sh.OpenFile(p, os.O_RDWR, 0)
		return w.o.note(oerr)
	}, isBusy)
	switch {
	case errors.Is(err, os.ErrNotExist), hasStatus(err, statusFileIsADirectory):
		return nil, created, stamp, storage.NewError(storage.ErrNotFound, "append", key, nil)
	case err != nil:
		return nil, created, stamp, classify("append", key, err)
	}
	fail := func(err error) (*smb2.File, time.Time, time.Time, error) {
		w.o.note(f.Close())
		return nil, time.Time{}, time.Time{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(classify("append", key, w.o.note(err)))
	}
	fs := fi.(*smb2.FileStat)
	switch {
	case fs.IsDir():
		return fail(storage.NewError(storage.ErrNotFound, "append", key, errors.New("a folder has this name")))
	case ifVersion != "" && versionOf(fs) != ifVersion:
		return fail(storage.NewError(storage.ErrPrecondition, "append", key, errors.New("the version does not match")))
	case fs.EndOfFile < offset:
		return fail(storage.NewError(storage.ErrPrecondition, "append", key, fmt.Errorf("the object is %d bytes, shorter than the offset %d", fs.EndOfFile, offset)))
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("smb append %q: %w", key, err))
	}
	stamp = newStamp(fs.LastWriteTime)
	err = d.retryBusy(ctx, "append", key, l, func() error { return w.o.note(w.sh.Chtimes(p, stamp, stamp)) }, isBusy)
	if err != nil {
		return fail(classify("append", key, err))
	}
	return f, fs.CreationTime, stamp, nil
}

// finishAppend stamps the final version under the key's lock, once it has checked
// that the key still names the file the Append wrote (created then).
func (d *Driver) finishAppend(ctx context.Context, w *change, key, p string, created, stamped time.Time) (storage.Attributes, error) {
	l, err := d.lock(ctx, w.ioCtx, w.c, "append", key, p)
	if errors.Is(err, errNoFolder) {
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "append", key, errors.New("the object was deleted during the append"))
	}
	if err != nil {
		return storage.Attributes{}, w.o.note(err)
	}
	defer func() { w.o.note(l.release(w.c, w.ioCtx)) }()
	fi, err := w.sh.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "append", key, errors.New("the object was deleted during the append"))
	case err != nil:
		return storage.Attributes{}, classify("append", key, w.o.note(err))
	case fi.IsDir() || !fi.(*smb2.FileStat).CreationTime.Equal(created):
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "append", key, errors.New("the object was replaced during the append"))
	}
	fs := fi.(*smb2.FileStat)
	stamp := newStamp(stamped, fs.LastWriteTime)
	err = d.retryBusy(ctx, "append", key, l, func() error { return w.o.note(w.sh.Chtimes(p, stamp, stamp)) }, isBusy)
	if err != nil {
		return storage.Attributes{}, classify("append", key, err)
	}
	return storage.Attributes{Key: key, Size: fs.EndOfFile, Version: version(created, stamp, fs.EndOfFile), ModTime: stamp}, nil
}

// newStamp returns a last-write time for a new version: now, with random sub-second
// digits in the SMB resolution of 100 ns (as Put stamps), and none of not (the times
// of versions the file had).
func newStamp(not ...time.Time) time.Time {
	for {
		now := time.Now()
		s := time.Unix(now.Unix(), int64(rand.IntN(10_000_000))*100)
		taken := false
		for _, t := range not {
			taken = taken || t.Equal(s)
		}
		if !taken {
			return s
		}
	}
}

// claimPath names the append claim of the file at p, next to its lock.
func claimPath(p string) string { return strings.TrimSuffix(lockPath(p), ".lock") + ".append" }

// appendClaim is a held append claim. ctx is the transfer's: it ends with the caller's
// context, or when the claim is about to become breakable.
type appendClaim struct {
	f      *smb2.File
	tcp    *watchedConn // its renewals may be in flight while the transfer waits for its reader
	path   string
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
	err    error // why a renewal failed; read after done
}

// errClaimExpired ends a transfer whose claim could not be renewed in time.
var errClaimExpired = errors.New("could not renew the append claim in time (slow server?); stopped rather than risk writing under a broken claim")

// claimAppend takes the key's append claim (see Append), or tells why not.
func (d *Driver) claimAppend(ctx context.Context, w *change, key, p string) (*appendClaim, error) {
	name := claimPath(p)
	backoff := lockBackoffMin
	start := time.Now()
	type state struct{ created, size int64 }
	var seen state
	var seenSince time.Time // when this Append first saw the claim as seen
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("smb append %q: waiting for another append: %w", key, err)
		}
		acquired := time.Now()
		f, err := w.sh.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return d.holdClaim(ctx, w.c.tcp, f, name, acquired), nil
		}
		switch {
		case errors.Is(err, os.ErrExist):
			fi, serr := w.sh.Stat(name)
			switch {
			case serr == nil:
				fs := fi.(*smb2.FileStat)
				now := state{fs.CreationTime.UnixNano(), fs.EndOfFile}
				switch {
				case seenSince.IsZero():
					seen, seenSince = now, time.Now()
				case now != seen:
					return nil, storage.NewError(storage.ErrPrecondition, "append", key, errors.New("another append of this object is in progress"))
				case time.Since(seenSince) > d.staleAfter:
					rerr := w.sh.Remove(name)
					d.log.Warn("smb: broke a stale append claim", "share", d.String(), "key", key, "held_for_at_least", time.Since(seenSince).Round(time.Millisecond), "err", rerr)
					if rerr == nil || errors.Is(rerr, os.ErrNotExist) {
						seenSince = time.Time{}
						continue
					}
				}
			case errors.Is(serr, os.ErrNotExist):
				seenSince = time.Time{}
				continue // released meanwhile: take it
			case isContext(serr) || isConnectionLost(serr):
				return nil, classify("append", key, w.o.note(serr))
			}
		case errors.Is(err, os.ErrNotExist), hasStatus(err, statusNotADirectory):
			return nil, storage.NewError(storage.ErrNotFound, "append", key, nil) // no folder, no key
		case isBusy(err):
			// The previous claim is being removed: retry shortly.
		default:
			return nil, classify("append", key, w.o.note(fmt.Errorf("taking the append claim: %w", err)))
		}
		if time.Since(start) > d.lockWait {
			return nil, storage.NewError(storage.ErrUnavailable, "append", key, fmt.Errorf("another append's claim stayed open for %v without being renewed", d.lockWait))
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return nil, fmt.Errorf("smb append %q: waiting for another append: %w", key, err)
		}
		backoff = min(backoff*2, lockBackoffMax)
	}
}

// holdClaim starts renewing a claim just created (its request sent at acquired).
func (d *Driver) holdClaim(ctx context.Context, tcp *watchedConn, f *smb2.File, name string, acquired time.Time) *appendClaim {
	cctx, cancel := context.WithCancelCause(ctx)
	cl := &appendClaim{f: f, tcp: tcp, path: name, ctx: cctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go cl.renew(acquired, d.staleAfter/16, d.staleAfter/2)
	return cl
}

// renew grows the claim by a byte every interval until stopped. The transfer's context
// ends maxAge after the last renewal that succeeded was sent, or at once if one fails.
func (cl *appendClaim) renew(acquired time.Time, every, maxAge time.Duration) {
	defer close(cl.done)
	expire := time.AfterFunc(time.Until(acquired.Add(maxAge)), func() { cl.cancel(errClaimExpired) })
	defer expire.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := int64(0); ; n++ {
		select {
		case <-cl.stop:
			return
		case <-tick.C:
		}
		sent := time.Now()
		cl.tcp.engage()
		_, err := cl.f.WriteAt([]byte{'+'}, n)
		cl.tcp.disengage()
		if err != nil {
			cl.err = err
			cl.cancel(fmt.Errorf("renewing the append claim: %w", err))
			return
		}
		expire.Reset(time.Until(sent.Add(maxAge)))
	}
}

// release stops the renewals, closes the claim's handle and removes the claim.
func (cl *appendClaim) release(c *conn, ioCtx context.Context) error {
	close(cl.stop)
	<-cl.done
	cl.cancel(nil)
	err := cl.f.Close()
	if err == nil {
		err = c.on(ioCtx).Remove(cl.path)
	}
	return errors.Join(err, cl.err)
}
