package disk

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/lectern/lectern/core/storage"
)

// classify turns an error from the operating system into a storage error of the right
// category, keeping the cause reachable with errors.Is/As (for example syscall.ENOSPC).
// Context errors are returned wrapped but unclassified, so that they keep matching
// context.Canceled and context.DeadlineExceeded.
func classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var se *storage.Error
	if errors.As(err, &se) {
		return err // already classified further down
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &ctxError{op: op, key: key, err: err}
	}
	return storage.NewError(kindOf(err), op, key, err)
}

// kindOf picks the category of an operating-system error. An error that is not
// recognised is treated as unavailable: on a local or network file system the errors
// left over (EIO-like failures of a disk or a mount) are the kind an operator fixes
// and a retry may then get past, and calling them invalid arguments would hide them.
func kindOf(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT, syscall.ENOTDIR:
			// ENOTDIR: a parent "directory" of the key is an object file, so the key
			// itself cannot exist.
			return storage.ErrNotFound
		case syscall.EACCES, syscall.EPERM, syscall.EROFS:
			return storage.ErrPermission
		case syscall.EEXIST:
			return storage.ErrPrecondition
		case syscall.ENAMETOOLONG:
			return storage.ErrInvalidArgument
		}
		return storage.ErrUnavailable // ENOSPC, EDQUOT, EIO, ESTALE, EMFILE, EINTR, ...
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return storage.ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return storage.ErrPermission
	case errors.Is(err, fs.ErrExist):
		return storage.ErrPrecondition
	}
	return storage.ErrUnavailable
}

// ctxError reports a cancelled operation. It matches context.Canceled or
// context.DeadlineExceeded through Unwrap and says which operation was stopped.
type ctxError struct {
	op, key string
	err     error
}

func (e *ctxError) Error() string { return "disk: " + e.op + " " + quote(e.key) + ": " + e.err.Error() }
func (e *ctxError) Unwrap() error { return e.err }

func quote(key string) string { return "\"" + key + "\"" }
