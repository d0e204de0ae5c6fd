//go:build unix

package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/lectern/lectern/core/storage"
)

// Append implements storage.Appender by writing into the object's own file, the one
// thing a Put never does (a Put writes a new file and renames it into place).
//
// Exclusion works in two layers. An exclusive flock on the object's file, held for
// the whole transfer, keeps a second Append of the same file out (it is refused at
// once rather than queued: its writer would only wait to be refused by the version
// check). The key's stripe lock, the one Put, Delete and Move take, is held only
// while the file is checked and given its new version, never during the transfer,
// so that a long append does not hold up the other keys of its stripe. The version
// is stamped before the first byte changes, so a writer that read the old version is
// refused even if this Append is cut off halfway.
func (d *Driver) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	if err := d.checkOpen("append", key); err != nil {
		return storage.Attributes{}, err
	}
	f, version, err := d.openForAppend(ctx, key, offset, ifVersion)
	if err != nil {
		return storage.Attributes{}, err
	}
	defer f.Close() // also releases the flock
	if err := f.Truncate(offset); err != nil {
		return storage.Attributes{}, classify("append", key, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return storage.Attributes{}, classify("append", key, err)
	}
	if _, err := copyInto(ctx, "append", key, f, r); err != nil {
		return storage.Attributes{}, err
	}
	if err := f.Sync(); err != nil {
		return storage.Attributes{}, classify("append", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return storage.Attributes{}, classify("append", key, err)
	}
	if version == "" { // no extended attributes: the version follows from the file
		version = fallbackVersion(fi)
	}
	return storage.Attributes{Key: key, Size: fi.Size(), Version: version, ModTime: fi.ModTime()}, nil
}

// maxAppendOpenTries bounds how often openForAppend starts again when the key is
// replaced between the open and the check.
const maxAppendOpenTries = 3

// openForAppend opens the object's file for writing with an exclusive flock, checks it
// against the Append's conditions under the key's lock and stamps its new version.
// It returns the new version ("" when it is derived from the file at the end).
func (d *Driver) openForAppend(ctx context.Context, key string, offset int64, ifVersion string) (*os.File, string, error) {
	path := d.path(key)
	for range maxAppendOpenTries {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ELOOP) {
				err = unix.ENOENT // a directory of other keys, or not ours: no object
			}
			return nil, "", classify("append", key, &os.PathError{Op: "open", Path: path, Err: err})
		}
		f := os.NewFile(uintptr(fd), path)
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, "", storage.NewError(storage.ErrPrecondition, "append", key, errors.New("another append to this object is in progress"))
			}
			return nil, "", classify("append", key, err)
		}
		version, replaced, err := d.checkAndStamp(ctx, key, f, offset, ifVersion)
		if err != nil || replaced {
			f.Close()
			if err != nil {
				return nil, "", err
			}
			continue
		}
		return f, version, nil
	}
	return nil, "", storage.NewError(storage.ErrUnavailable, "append", key, errors.New("the object kept being replaced while the append began"))
}

// checkAndStamp holds the key's lock while it checks that path still names the open
// file f (replaced reports that it does not), that f meets the conditions, and gives
// f its new version.
func (d *Driver) checkAndStamp(ctx context.Context, key string, f *os.File, offset int64, ifVersion string) (version string, replaced bool, err error) {
	unlock, err := d.locks.lock(ctx, "append", key, d.closed.Load)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	fi, err := f.Stat()
	if err != nil {
		return "", false, classify("append", key, err)
	}
	current, err := os.Lstat(f.Name())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", false, storage.NewError(storage.ErrNotFound, "append", key, errors.New("the object was deleted"))
	case err != nil:
		return "", false, classify("append", key, err)
	case !os.SameFile(fi, current):
		return "", true, nil
	}
	old, err := readVersion(f, fi)
	if err != nil {
		return "", false, classify("append", key, err)
	}
	if ifVersion != "" && old != ifVersion {
		return "", false, storage.NewError(storage.ErrPrecondition, "append", key, errors.New("the version does not match"))
	}
	if fi.Size() < offset {
		return "", false, storage.NewError(storage.ErrPrecondition, "append", key, fmt.Errorf("the object is %d bytes, shorter than the offset %d", fi.Size(), offset))
	}
	version, err = d.stampVersion(f, f.Name())
	if err != nil {
		return "", false, classify("append", key, err)
	}
	if version[0] == 'f' {
		version = "" // derived from the file, which the append is about to change
	}
	return version, false, nil
}

var _ storage.Appender = (*Driver)(nil)
