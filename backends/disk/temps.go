//go:build unix

package disk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A process that dies during a Put (kill -9, a power cut) leaves its temporary file
// behind. List never shows it, so nothing above the driver can delete it, and the
// directory it is in could never be pruned. So a Put holds an flock on its temporary
// file from creating it until it is published or removed (lockTemp), and prune
// removes the temporary files whose flock it can take: flocks die with their process,
// so such a file belongs to no running Put, in this process or another.

// tempReadBatch is how many names removeDeadTemps reads at a time: a directory that
// still holds keys is usually recognised in the first batch.
const tempReadBatch = 64

// lockTemp takes the flock of a Put's new temporary file f and returns the descriptor
// that holds it (a dup of f's, so that closing f before publishing keeps the lock);
// ok is false when the file was claimed as dead before the lock was taken, and the Put
// must create another.
func lockTemp(f *os.File) (lockFD int, ok bool, err error) {
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return -1, false, nil // prune holds it and is removing it
		}
		return -1, false, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return -1, false, err
	}
	if st.Nlink == 0 {
		return -1, false, nil // prune removed it between its creation and this lock
	}
	lockFD, err = unix.Dup(fd)
	if err != nil {
		return -1, false, err
	}
	unix.CloseOnExec(lockFD)
	return lockFD, true, nil
}

// removeDeadTemps removes the temporary files of dead Puts from dir when dir holds
// nothing else, and reports whether it removed them all (dir may then be empty). It
// reads no further than the first name that is not a temporary file, so a directory
// of keys costs one short read.
func (d *Driver) removeDeadTemps(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	var temps []string
	for {
		names, err := f.Readdirnames(tempReadBatch)
		for _, n := range names {
			if !strings.HasPrefix(n, tmpPrefix) {
				f.Close()
				return false
			}
			temps = append(temps, n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return false
		}
	}
	f.Close()
	for _, n := range temps {
		if !d.removeDeadTemp(filepath.Join(dir, n)) {
			return false
		}
	}
	return len(temps) > 0
}

// removeDeadTemp removes the temporary file at p unless a running Put holds it.
func (d *Driver) removeDeadTemp(p string) bool {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return errors.Is(err, unix.ENOENT) // gone already: published or removed
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false // a running Put's
	}
	// Unlinked while the lock is held, so no Put can be writing it (see lockTemp).
	if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
		d.log.Warn("disk: could not remove a dead put's temporary file", "path", p, "err", err)
		return false
	}
	// Mostly a crashed put's; it can also be a running put's, taken between its
	// create and its lock, and that put then starts again (see lockTemp).
	d.log.Info("disk: removed an unlocked temporary file (a put that crashed, or one that starts again)", "path", p)
	return true
}

// RemoveLeftovers implements storage.LeftoverRemover: anywhere under the root, it
// removes the temporary files of Puts that died (no process holds their flock) and
// that were last written before the given time, then prunes the folders that are left
// empty. prune does this for a folder whose last key goes; this reaches the folders
// that keep keys, such as a conference's content folder. It also prunes folders that
// were empty already and last changed before that time: a put that died between
// making its folder and its temporary file leaves one.
func (d *Driver) RemoveLeftovers(ctx context.Context, before time.Time) (int, error) {
	if err := d.checkOpen("remove leftovers", ""); err != nil {
		return 0, err
	}
	removed := 0
	emptied := map[string]bool{}
	entries := map[string]int{} // folders below the root: how many entries each has
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a concurrent delete
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == d.root {
			return nil
		}
		if parent := filepath.Dir(p); parent != d.root {
			entries[parent]++
		}
		if e.IsDir() {
			if strings.HasPrefix(e.Name(), ".") {
				return fs.SkipDir // the driver's own (.lectern, its key locks): no key starts with a dot
			}
			if _, seen := entries[p]; !seen {
				entries[p] = 0
			}
			return nil
		}
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			return nil // gone, or too recent to judge
		}
		if d.removeDeadTemp(p) {
			removed++
			emptied[filepath.Dir(p)] = true
		}
		return nil
	})
	for dir, n := range entries {
		if n == 0 && !emptied[dir] {
			if fi, err := os.Stat(dir); err == nil && fi.ModTime().Before(before) {
				emptied[dir] = true // empty, and left so since before the cut-off
			}
		}
	}
	for dir := range emptied {
		d.prune(dir)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return removed, ctxErr
		}
		return removed, classify("remove leftovers", "", err)
	}
	return removed, nil
}
