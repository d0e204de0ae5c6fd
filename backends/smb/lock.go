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
// The lock is a dot-named file next to the key's file, created with FILE_CREATE
// (O_CREATE|O_EXCL: exactly one creator wins, decided by the server) and KEPT OPEN by
// its holder until release. go-smb2 opens files without FILE_SHARE_DELETE, so while
// the holder's handle is open nobody can delete or rename the lock file: the attempt
// fails with a sharing violation. That makes stale locks safe to break without any
// clock: a lock file that can be deleted has no open handle, so its holder is gone
// (crashed, or its connection dropped and the server closed its handles) or has just
// finished; either way it no longer acts under the lock. A waiter that finds the lock
// file therefore tries to delete it: a sharing violation means "held, wait"; success
// or "not found" means "try to create it again". A time-based rule ("older than N
// seconds may be broken") would let a slow but live holder and a breaker both act.
//
// The holder's critical section runs on the connection that holds the lock handle:
// if that connection dies, the server closes the handle (the lock frees) and every
// later request of the holder fails too, so it cannot act without the lock.
//
// A lock left on a server that never closes the handle of a vanished client (a
// network partition without TCP reset) is held until the server's keepalive drops
// that session; waiters give up after lockWait with storage.ErrUnavailable.

const (
	lockWait       = 30 * time.Second
	lockBackoffMin = time.Millisecond
	lockBackoffMax = 40 * time.Millisecond
)

// errNoFolder: the key's folder does not exist, so neither does the key.
var errNoFolder = errors.New("folder does not exist")

// lockPath names the lock file of the file at p. It is lower-cased so that keys that
// differ only in case, which are one file on a case-insensitive share, share one lock;
// a long name is hashed so that the lock name fits in a 255-character path segment.
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
	f    *smb2.File
	path string
}

// lock takes the lock of the file at p on connection c, waiting while another holder
// has it. ctx bounds the wait; ioCtx is the context the lock's own requests use.
func (d *Driver) lock(ctx, ioCtx context.Context, c *conn, op, key, p string) (*keyLock, error) {
	name := lockPath(p)
	sh := c.on(ioCtx)
	backoff := lockBackoffMin
	deadline := time.Now().Add(lockWait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("smb %s %q: waiting for the key's lock: %w", op, key, err)
		}
		f, err := sh.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return &keyLock{f: f, path: name}, nil
		}
		switch {
		case errors.Is(err, os.ErrExist):
			// Held, or left without a handle by a holder that is gone: only the latter
			// can be deleted (see above).
			rerr := sh.Remove(name)
			if rerr == nil || errors.Is(rerr, os.ErrNotExist) {
				continue
			}
			if !isBusy(rerr) {
				return nil, classify(op, key, fmt.Errorf("breaking the key's lock: %w", rerr))
			}
		case errors.Is(err, os.ErrNotExist):
			return nil, errNoFolder
		case isBusy(err):
			// The previous lock file is being deleted (delete pending): retry shortly.
		default:
			return nil, classify(op, key, fmt.Errorf("taking the key's lock: %w", err))
		}
		if time.Now().After(deadline) {
			return nil, storage.NewError(storage.ErrUnavailable, op, key, fmt.Errorf("the key's lock stayed held for %v", lockWait))
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return nil, fmt.Errorf("smb %s %q: waiting for the key's lock: %w", op, key, err)
		}
		backoff = min(backoff*2, lockBackoffMax)
	}
}

// release closes the lock's handle (from then on anybody may delete the file, which is
// the release) and deletes the file. The delete may find the file gone or already
// re-created and held by the next holder; both are fine.
func (l *keyLock) release(c *conn, ioCtx context.Context) error {
	err := l.f.Close()
	if err != nil {
		return err
	}
	rerr := c.on(ioCtx).Remove(l.path)
	if rerr != nil && (isConnectionLost(rerr) || isContext(rerr)) {
		return rerr
	}
	return nil
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
			return nil // no lock (or one being deleted, or anything odd): just read
		}
		// A lock file. Held, the delete fails with a sharing violation; left behind by a
		// holder that is gone, deleting it is safe and spares the next reader the wait.
		if rerr := sh.Remove(name); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
			return nil
		} else if isContext(rerr) || isConnectionLost(rerr) {
			return rerr
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

const readerWait = 2 * time.Second
