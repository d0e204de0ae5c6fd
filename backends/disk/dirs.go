//go:build unix

package disk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lectern/lectern/core/storage"
)

// maxDirRetries bounds how often a put recreates a directory that concurrent deletes
// keep pruning. Each retry means another goroutine or process made progress, so the
// bound is only reached under a pathological storm; it then reports unavailable.
const maxDirRetries = 100

// createTemp creates a new temporary file in dir, creating dir (and its parents) if
// needed, and locks it (lockTemp): the caller closes lockFD once the file is published
// or removed. A concurrent delete may prune dir between its creation and the file's;
// the file's creation then fails with ENOENT and is retried. Once the temporary file
// exists the directory is not empty and can no longer be pruned.
func (d *Driver) createTemp(ctx context.Context, key, dir string) (name string, f *os.File, lockFD int, err error) {
	for range maxDirRetries {
		if err := ctx.Err(); err != nil {
			return "", nil, -1, classify("put", key, err)
		}
		if err := d.mkdirs(key, dir); err != nil {
			return "", nil, -1, err
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := filepath.Join(dir, tmpPrefix+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, d.filePerm)
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrExist):
			continue // directory pruned meanwhile, or (1 in 2^64) a name collision
		default:
			return "", nil, -1, classify("put", key, err)
		}
		lockFD, ok, err := lockTemp(f)
		if err != nil || !ok {
			f.Close()
			if err != nil {
				return "", nil, -1, classify("put", key, err)
			}
			continue // taken for a dead put's by a concurrent prune: make another
		}
		return name, f, lockFD, nil
	}
	return "", nil, -1, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("its directory kept being removed by concurrent deletes"))
}

// mkdirs makes dir and its missing parents below the root, fsyncing each parent whose
// entries changed so that the new object survives a crash with its path.
func (d *Driver) mkdirs(key, dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(d.root, dir)
	if err != nil || rel == "." {
		return nil
	}
	segments := strings.Split(rel, string(filepath.Separator))
	for range maxDirRetries {
		p, restart := d.root, false
		for i, seg := range segments {
			parent := p
			p = filepath.Join(p, seg)
			err := syscall.Mkdir(p, uint32(d.dirPerm))
			switch {
			case err == nil:
				if err := syncDir(parent); err != nil {
					return classify("put", key, err)
				}
			case errors.Is(err, syscall.EEXIST):
				fi, serr := os.Lstat(p)
				if serr == nil && !fi.IsDir() {
					return conflictError(key, fmt.Sprintf("%q is an object, so it cannot also hold other keys", strings.Join(segments[:i+1], "/")))
				}
				// serr != nil: pruned again just now; the next mkdir in the chain
				// fails with ENOENT and restarts.
			case errors.Is(err, syscall.ENOENT):
				restart = true // a concurrent delete pruned a parent we had just made
			case errors.Is(err, syscall.ENOTDIR):
				return conflictError(key, "a parent of the key is an object")
			default:
				return classify("put", key, &fs.PathError{Op: "mkdir", Path: p, Err: err})
			}
			if restart {
				break
			}
		}
		if !restart {
			return nil
		}
	}
	return storage.NewError(storage.ErrUnavailable, "put", key, errors.New("its directory kept being removed by concurrent deletes"))
}

// prune removes dir and then its parents while they are empty, stopping at the root.
// rmdir(2) refuses a directory that is not empty, which makes this safe against a
// concurrent put: either the put's temporary file is already in the directory and the
// rmdir fails, or the rmdir wins and the put creates the directory again. A directory
// that holds only temporary files of dead puts is emptied first (removeDeadTemps).
func (d *Driver) prune(dir string) {
	for dir != d.root && strings.HasPrefix(dir, d.root+string(filepath.Separator)) {
		err := syscall.Rmdir(dir)
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			if d.removeDeadTemps(dir) {
				err = syscall.Rmdir(dir)
			}
		}
		if err != nil {
			return // not empty, already gone, or not ours to remove
		}
		parent := filepath.Dir(dir)
		// Failing to sync here loses nothing but an empty directory after a crash.
		_ = syncDir(parent)
		dir = parent
	}
}

// pruneEmpty removes dir and then its parents while they are empty, stopping at the
// root: the folders a failed put or move made for its key and left empty, which would
// otherwise stay for good (no listing shows them, no key is in them) and keep a key
// of their name from being stored. Unlike prune it never looks inside a folder that is
// not empty, so a put refused beside other keys costs a single failed rmdir.
func (d *Driver) pruneEmpty(dir string) {
	for dir != d.root && strings.HasPrefix(dir, d.root+string(filepath.Separator)) {
		if syscall.Rmdir(dir) != nil {
			return // not empty (the usual case), or gone
		}
		parent := filepath.Dir(dir)
		_ = syncDir(parent) // failing loses nothing but an empty folder after a crash
		dir = parent
	}
}

// syncDir fsyncs a directory, making renames, links and unlinks in it durable.
func syncDir(dir string) error {
	f, err := openForReading(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
