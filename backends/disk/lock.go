//go:build unix

package disk

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lectern/lectern/core/storage"
)

// lockStripes is the number of lock files. Keys are hashed onto them, so two keys may
// share a lock (they then only wait for each other, which is harmless because a lock
// is held for a rename, never for a transfer). A fixed number of lock files is used
// rather than one per key because a lock file can never be deleted safely: a process
// could lock the old inode while another creates a new one under the same name.
const lockStripes = 64

// keyLocks serialises the version check and the rename of puts, and deletes, of one
// key: across goroutines of this driver with a channel semaphore (which honours the
// context), and across driver instances and processes with flock(2) on a lock file
// under <root>/.lectern/locks. flock locks belong to an open file description, so two
// drivers in one process, each with its own descriptor, exclude each other as two
// processes do. On Linux NFS clients flock is emulated with byte-range locks, which
// the server enforces between clients.
type keyLocks struct {
	dir   string
	sem   [lockStripes]chan struct{}
	files [lockStripes]*os.File // opened lazily, guarded by sem
}

func newKeyLocks(dir string) *keyLocks {
	l := &keyLocks{dir: dir}
	for i := range l.sem {
		l.sem[i] = make(chan struct{}, 1)
	}
	return l
}

func stripeOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % lockStripes)
}

// lock takes the key's lock. closed is checked once the in-process stripe is held,
// so that Close, which takes every stripe before closing the files, never pulls a
// descriptor from under a lock holder.
func (l *keyLocks) lock(ctx context.Context, op, key string, closed func() bool) (unlock func(), err error) {
	i := stripeOf(key)
	select {
	case l.sem[i] <- struct{}{}:
	case <-ctx.Done():
		return nil, classify(op, key, ctx.Err())
	}
	release := func() { <-l.sem[i] }
	if closed() {
		release()
		return nil, storage.NewError(storage.ErrClosed, op, key, nil)
	}
	f := l.files[i]
	if f == nil {
		f, err = os.OpenFile(filepath.Join(l.dir, fmt.Sprintf("%02x", i)), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			release()
			return nil, classify(op, key, fmt.Errorf("open lock file: %w", err))
		}
		l.files[i] = f
	}
	if err := flockContext(ctx, int(f.Fd())); err != nil {
		release()
		return nil, classify(op, key, err)
	}
	return func() {
		// Unlocking cannot fail on a valid descriptor; if it somehow did, closing the
		// descriptor (Close) or exiting releases the lock anyway.
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		release()
	}, nil
}

// flockContext takes an exclusive flock, polling with LOCK_NB so that a cancelled
// context stops the wait (a blocking flock cannot be interrupted). Another holder only
// keeps the lock for a rename, so the first try nearly always succeeds.
func flockContext(ctx context.Context, fd int) error {
	wait := 50 * time.Microsecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("flock: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// close closes every lock file, waiting for current holders to finish.
func (l *keyLocks) close() error {
	var errs []error
	for i := range l.sem {
		l.sem[i] <- struct{}{}
		if l.files[i] != nil {
			errs = append(errs, l.files[i].Close())
			l.files[i] = nil
		}
		<-l.sem[i]
	}
	return errors.Join(errs...)
}
