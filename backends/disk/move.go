//go:build unix

package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/lectern/lectern/core/storage"
)

// Move implements storage.Mover: link(2) gives the object's file the new name, which
// fails atomically if that name exists (the same create-only step a conditional Put
// publishes with), then the old name is unlinked. Both names are one inode, so no
// byte is copied and the version (an extended attribute of the inode) moves along. A
// crash between the two steps leaves both names, which the contract allows.
//
// The source's key lock is held throughout, so that a replacing Put or a Delete of
// the source cannot slip in between the link and the unlink (the unlink would then
// remove an object that was not moved).
func (d *Driver) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	if err := d.checkOpen("move", src); err != nil {
		return storage.Attributes{}, err
	}
	srcPath, dstPath := d.path(src), d.path(dst)
	unlock, err := d.locks.lock(ctx, "move", src, d.closed.Load)
	if err != nil {
		return storage.Attributes{}, err
	}
	defer unlock()
	attrs, err := d.stat("move", src, srcPath)
	if err != nil {
		return storage.Attributes{}, err
	}
	if err := d.linkNew(ctx, dst, srcPath, dstPath); err != nil {
		d.pruneEmpty(filepath.Dir(dstPath))
		return storage.Attributes{}, err
	}
	if err := syncDir(filepath.Dir(dstPath)); err != nil {
		return storage.Attributes{}, classify("move", dst, fmt.Errorf("the object is in place but its directory could not be synced: %w", err))
	}
	if err := syscall.Unlink(srcPath); err != nil && !errors.Is(err, syscall.ENOENT) {
		return storage.Attributes{}, classify("move", src, fmt.Errorf("the object was linked under its new name but its old name could not be removed: %w", &fs.PathError{Op: "unlink", Path: srcPath, Err: err}))
	}
	srcDir := filepath.Dir(srcPath)
	if err := syncDir(srcDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storage.Attributes{}, classify("move", src, err)
	}
	d.prune(srcDir)
	attrs.Key = dst
	return attrs, nil
}

// linkNew links the file at from under to (the key dst), creating to's directory;
// a concurrent delete may prune that directory before the link, which is retried.
func (d *Driver) linkNew(ctx context.Context, dst, from, to string) error {
	for range maxDirRetries {
		if err := ctx.Err(); err != nil {
			return classify("move", dst, err)
		}
		if err := d.mkdirs(dst, filepath.Dir(to)); err != nil {
			return err
		}
		err := os.Link(from, to)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, fs.ErrExist):
			if fi, serr := os.Lstat(to); serr == nil && fi.IsDir() {
				return conflictError(dst, "it is a directory of other keys")
			}
			return storage.NewError(storage.ErrPrecondition, "move", dst, errors.New("the destination key exists"))
		case errors.Is(err, fs.ErrNotExist):
			continue // to's directory was pruned meanwhile (from is held by our lock)
		default:
			return classify("move", dst, err)
		}
	}
	return storage.NewError(storage.ErrUnavailable, "move", dst, errors.New("its directory kept being removed by concurrent deletes"))
}

var _ storage.Mover = (*Driver)(nil)
