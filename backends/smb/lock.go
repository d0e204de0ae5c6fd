package smb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

// The key lock.
//
// Every change of a key (put of any kind, delete) holds the key's lock while it checks
// its condition and renames or removes the file, so that conditional puts are atomic
// against every other change, from any goroutine, driver or machine on the share.
//
// The lock is a dot-named file next to the key's file. Taking it is creating it with
// FILE_CREATE (O_CREATE|O_EXCL: of several racing creators exactly one wins, decided
// by the server); the holder keeps its handle open and releases by closing and then
// removing the file. Waiters never remove a lock (but see stale locks), so a lock
// disappears only through its holder, and nobody can create it while it exists: two
// holders at once are impossible.
//
// Two designs were tried and dropped, both measured against Samba 4.17 under 8
// racing clients (TestDebugLock-style loops): a lock file that waiters delete whenever
// the delete is not refused by a sharing violation (no clock needed) produced two
// holders now and then, a delete going through against a just-created, open lock;
// and a lock FOLDER (mkdir) crashed smbd (an assertion in fd_handle.c) under the
// same churn.
//
// Stale locks. A holder that crashes (or whose connection dies) inside its critical
// section leaves the file behind. A waiter breaks a lock once it has seen the SAME
// lock (same creation time) exist for staleAfter on its own monotonic clock (no
// comparison of client and server clocks). That is safe because a holder never acts
// under a lock older than staleAfter/2: its rename retries stop at that age, and it
// then gives up with storage.ErrUnavailable instead of renaming. The holder's open
// handle (go-smb2 opens without FILE_SHARE_DELETE) also makes a breaker's delete of a
// live lock fail with a sharing violation: a second line of defence for a holder whose
// request is delayed in the network for longer than staleAfter/2.
//
// A crashed holder therefore blocks writers of that one key for staleAfter.

const (
	staleAfter     = 20 * time.Second
	lockWait       = 2 * staleAfter
	lockBackoffMin = time.Millisecond
	lockBackoffMax = 40 * time.Millisecond
	readerWait     = 2 * time.Second
)

// errNoFolder: the key's folder does not exist, so neither does the key.
var errNoFolder = errors.New("folder does not exist")

// lockPath names the lock file of the file at p. It is lower-cased so that keys
// that differ only in case, which are one file on a case-insensitive share, share one
// lock; a long name is hashed so that the lock name fits in a 255-character segment.
func lockPath(p string) string {
	dir, name := splitPath(p)
	name = strings.ToLower(name)
	if len(name) > 200 {
		sum := sha256.Sum256([]byte(name))
		name = hex.EncodeToString(sum[:16])
	}
	return joinPath(dir, "."+name+".lock")
}

type keyLock struct {
	f        *smb2.File
	path     string
	acquired time.Time
	maxAge   time.Duration // the holder must not act under the lock after this age
}

// expired reports whether the holder may no longer act under the lock.
func (l *keyLock) expired() bool { return time.Since(l.acquired) > l.maxAge }

// lock takes the lock of the file at p on connection c, waiting while another holder
// has it. ctx bounds the wait; ioCtx is the context the lock's own requests use.
func (d *Driver) lock(ctx, ioCtx context.Context, c *conn, op, key, p string) (*keyLock, error) {
	name := lockPath(p)
	sh := c.on(ioCtx)
	backoff := lockBackoffMin
	start := time.Now()
	var seen time.Time      // the creation time of the lock instance being watched
	var seenSince time.Time // when this waiter first saw that instance
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("smb %s %q: waiting for the key's lock: %w", op, key, err)
		}
		acquired := time.Now()
		f, err := sh.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return &keyLock{f: f, path: name, acquired: acquired, maxAge: d.staleAfter / 2}, nil
		}
		switch {
		case errors.Is(err, os.ErrExist):
			fi, serr := sh.Stat(name)
			switch {
			case serr == nil:
				ct := fi.(*smb2.FileStat).CreationTime
				if !ct.Equal(seen) {
					seen, seenSince = ct, time.Now()
				} else if time.Since(seenSince) > d.staleAfter {
					rerr := sh.Remove(name)
					d.log.Warn("smb: broke a stale key lock", "share", d.String(), "key", key, "held_for_at_least", time.Since(seenSince).Round(time.Millisecond), "err", rerr)
					if rerr == nil || errors.Is(rerr, os.ErrNotExist) {
						continue
					}
				}
			case errors.Is(serr, os.ErrNotExist):
				continue // released meanwhile
			case isContext(serr) || isConnectionLost(serr):
				return nil, classify(op, key, serr)
			}
		case errors.Is(err, os.ErrNotExist):
			return nil, errNoFolder
		case isBusy(err):
			// The previous lock is being removed (delete pending): retry shortly.
		default:
			return nil, classify(op, key, fmt.Errorf("taking the key's lock: %w", err))
		}
		if time.Since(start) > d.lockWait {
			return nil, storage.NewError(storage.ErrUnavailable, op, key, fmt.Errorf("the key's lock stayed held for %v", d.lockWait))
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return nil, fmt.Errorf("smb %s %q: waiting for the key's lock: %w", op, key, err)
		}
		backoff = min(backoff*2, lockBackoffMax)
	}
}

// release closes the lock's handle and removes the lock file.
func (l *keyLock) release(c *conn, ioCtx context.Context) error {
	if err := l.f.Close(); err != nil {
		return err
	}
	return c.on(ioCtx).Remove(l.path)
}

// waitUnlocked lets a reader give way to a writer holding the key's lock, which is
// about to rename over the file: on a Windows share the reader's open handle would
// make that rename fail, and a stream of readers could starve writers forever. It
// waits at most readerWait, then reads anyway (the writer then retries its rename).
// One request when nobody holds the lock.
func (d *Driver) waitUnlocked(ctx context.Context, sh *smb2.Share, p string) error {
	name := lockPath(p)
	backoff := lockBackoffMin
	deadline := time.Now().Add(readerWait)
	for {
		_, err := sh.Stat(name)
		if err != nil {
			if isContext(err) || isConnectionLost(err) {
				return err
			}
			return nil // no lock (or one being removed, or anything odd): just read
		}
		if time.Now().After(deadline) {
			return nil
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return err
		}
		backoff = min(backoff*2, lockBackoffMax)
	}
}
