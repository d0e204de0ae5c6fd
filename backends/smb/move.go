package smb

import (
	"context"
	"errors"
	"os"

	"github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

var _ storage.Mover = (*Driver)(nil)

// Move implements storage.Mover with a server-side rename, so no byte crosses the
// network. go-smb2's Rename always replaces an existing target, so create-only comes
// from the key locks, as for a conditional Put: both keys are locked (always in the
// same order, so that two moves between the same keys cannot deadlock), the target is
// checked to be absent, then the file is renamed.
func (d *Driver) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	if err := d.check("move", src); err != nil {
		return storage.Attributes{}, err
	}
	w, err := d.beginChange(ctx)
	if err != nil {
		return storage.Attributes{}, err
	}
	defer d.endChange(w)
	c, o, ioCtx, sh := w.c, w.o, w.ioCtx, w.sh
	sp, dp := d.path(src), d.path(dst)

	// The source's folder exists if the source does; the target's may have to be made.
	// A concurrent delete may prune it again before its lock file is in it: retry.
	var locks []*keyLock
	moved := false
	defer func() {
		for _, l := range locks {
			o.note(l.release(c, ioCtx))
		}
		if !moved {
			d.pruneEmpty(sh, dp) // the target's folder, if this move made it
		}
	}()
	order := []struct{ key, path string }{{src, sp}, {dst, dp}}
	if lockPath(dp) < lockPath(sp) {
		order[0], order[1] = order[1], order[0]
	}
	for _, k := range order {
		var l *keyLock
		for attempt := 0; ; attempt++ {
			l, err = d.lock(ctx, ioCtx, c, "move", k.key, k.path)
			if !errors.Is(err, errNoFolder) {
				break
			}
			if k.key == src {
				return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "move", src, nil)
			}
			if attempt == 3 {
				return storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "move", dst, errors.New("its folder kept being removed by concurrent deletes"))
			}
			dir, _ := splitPath(dp)
			if err := d.mkdirAll(sh, dst, dir); err != nil && !goneOrGoing(err) {
				return storage.Attributes{}, classify("move", dst, o.note(err))
			} // else a parent was pruned meanwhile: the loop makes it again
		}
		if err != nil {
			return storage.Attributes{}, o.note(err)
		}
		locks = append(locks, l)
	}

	fi, err := sh.Stat(sp)
	switch {
	case errors.Is(err, os.ErrNotExist), err == nil && fi.IsDir():
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "move", src, nil)
	case err != nil:
		return storage.Attributes{}, classify("move", src, o.note(err))
	}
	attrs := attributesOf(dst, fi.(*smb2.FileStat))
	switch fi, err := sh.Stat(dp); {
	case err == nil && fi.IsDir():
		return storage.Attributes{}, storage.NewError(storage.ErrInvalidArgument, "move", dst, errors.New("a folder has this name (keys under it exist)"))
	case err == nil:
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "move", dst, errors.New("the destination key exists"))
	case !errors.Is(err, os.ErrNotExist):
		return storage.Attributes{}, classify("move", dst, o.note(err))
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, classify("move", src, err)
	}
	// The lock that guards the source is the one whose age bounds the rename.
	srcLock := locks[0]
	if order[0].key != src {
		srcLock = locks[1]
	}
	err = d.retryBusy(ctx, "move", src, srcLock, func() error { return o.note(sh.Rename(sp, dp)) }, func(err error) bool {
		return isBusy(err) || errors.Is(err, os.ErrPermission) // the source is open elsewhere
	})
	if err != nil {
		return storage.Attributes{}, classify("move", src, err)
	}
	moved = true
	for _, l := range locks {
		o.note(l.release(c, ioCtx))
	}
	locks = nil
	d.prune(sh, sp)
	return attrs, nil
}
