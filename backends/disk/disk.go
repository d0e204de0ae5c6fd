//go:build unix

package disk

import (
	"golang.org/x/sys/unix"

	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lectern/lectern/core/storage"
)

// metaDir is the driver's own folder under the root. Its name starts with a dot, so no
// key can name it and List skips it.
const metaDir = ".lectern"

// tmpPrefix starts the names of temporary files.
const tmpPrefix = ".tmp-"

// Driver is a storage.Driver over a folder. Use New.
type Driver struct {
	root     string
	log      *slog.Logger
	filePerm fs.FileMode
	dirPerm  fs.FileMode
	locks    *keyLocks
	closed   atomic.Bool
	noXattr  atomic.Bool // set once the file system refused a user xattr
}

var _ storage.Driver = (*Driver)(nil)

// Option configures New.
type Option func(*Driver)

// WithLogger sets the logger for the few events worth logging (a temporary file that
// could not be removed, the fallback to versions without extended attributes).
func WithLogger(l *slog.Logger) Option { return func(d *Driver) { d.log = l } }

// WithPermissions sets the modes of new files and directories (before the umask). The
// defaults are 0644 and 0755.
func WithPermissions(file, dir fs.FileMode) Option {
	return func(d *Driver) { d.filePerm, d.dirPerm = file.Perm(), dir.Perm() }
}

// New returns a driver storing objects under root, which is created if it is missing.
// A relative root is made absolute against the current directory now.
func New(root string, opts ...Option) (*Driver, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("disk root %q: %w", root, err))
	}
	d := &Driver{root: abs, log: slog.Default(), filePerm: 0o644, dirPerm: 0o755}
	for _, o := range opts {
		o(d)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, storage.NewError(storage.ErrInvalidArgument, "open", "", fmt.Errorf("disk root %q is not a folder", abs))
	}
	locks := filepath.Join(abs, metaDir, "locks")
	if err := os.MkdirAll(locks, d.dirPerm); err != nil {
		return nil, classify("open", "", fmt.Errorf("disk root %q: %w", abs, err))
	}
	d.locks = newKeyLocks(locks)
	return d, nil
}

// Root returns the absolute path of the folder.
func (d *Driver) Root() string { return d.root }

func (d *Driver) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

func (d *Driver) checkOpen(op, key string) error {
	if d.closed.Load() {
		return storage.NewError(storage.ErrClosed, op, key, nil)
	}
	return nil
}

// Capabilities implements storage.Driver.
func (d *Driver) Capabilities() storage.Capabilities {
	return storage.Capabilities{ConditionalCreate: true, ConditionalReplace: true, SharedAcrossInstances: true, FileTree: true}
}

// Close implements storage.Driver. Readers already returned by Get stay usable.
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	return d.locks.close()
}

// copyBufferPool holds the buffers Put copies through when its reader cannot write
// itself out (io.WriterTo). 1 MiB makes a 256 MiB put 256 write calls, whose cost is
// lost next to the copy into the page cache and the fsync; io.Copy's default 32 KiB
// would make 8192. os.File's own ReadFrom is not used: it only helps when the source
// is a file or socket (copy_file_range, splice) and would bypass the context checks.
var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if err := d.checkOpen("put", key); err != nil {
		return storage.Attributes{}, err
	}
	final := d.path(key)
	tmp, f, lockFD, err := d.createTemp(ctx, key, filepath.Dir(final))
	if err != nil {
		return storage.Attributes{}, err
	}
	published := false
	defer func() {
		// The temporary file's lock goes last: until then no prune takes it for a
		// dead put's.
		defer unix.Close(lockFD)
		if f != nil {
			f.Close()
		}
		if !published {
			if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				d.log.Warn("disk: could not remove a temporary file", "path", tmp, "err", err)
			}
			d.pruneEmpty(filepath.Dir(final))
		}
	}()

	attrs, err := d.writeTemp(ctx, key, tmp, f, r)
	if err != nil {
		return storage.Attributes{}, err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return storage.Attributes{}, classify("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, classify("put", key, err)
	}

	if err := d.publish(ctx, key, tmp, final, opts.Condition); err != nil {
		return storage.Attributes{}, err
	}
	published = true
	if err := syncDir(filepath.Dir(final)); err != nil {
		return storage.Attributes{}, classify("put", key, fmt.Errorf("the object is in place but its directory could not be synced: %w", err))
	}
	return attrs, nil
}

// writeTemp copies r into the temporary file, gives it a version and makes it durable.
func (d *Driver) writeTemp(ctx context.Context, key, tmp string, f *os.File, r io.Reader) (storage.Attributes, error) {
	n, err := copyInto(ctx, "put", key, f, r)
	if err != nil {
		return storage.Attributes{}, err
	}
	version, err := d.stampVersion(f, tmp)
	if err != nil {
		return storage.Attributes{}, classify("put", key, err)
	}
	if err := f.Sync(); err != nil {
		return storage.Attributes{}, classify("put", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return storage.Attributes{}, classify("put", key, err)
	}
	return storage.Attributes{Key: key, Size: n, Version: version, ModTime: fi.ModTime()}, nil
}

// publish moves the finished temporary file to the key, subject to cond.
func (d *Driver) publish(ctx context.Context, key, tmp, final string, cond storage.Condition) error {
	if cond.IfNotExists {
		// link(2) fails with EEXIST if final exists, atomically: among any number of
		// goroutines and processes exactly one creates the key.
		if err := os.Link(tmp, final); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if fi, serr := os.Lstat(final); serr == nil && fi.IsDir() {
					return conflictError(key, "it is a directory of other keys")
				}
				return storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the key exists"))
			}
			return classify("put", key, err)
		}
		// The object is published; its second name goes. Should that fail, the
		// temporary name stays behind, invisible to List, and is logged.
		if err := os.Remove(tmp); err != nil {
			d.log.Warn("disk: could not remove a temporary file", "path", tmp, "err", err)
		}
		return nil
	}
	unlock, err := d.locks.lock(ctx, "put", key, d.closed.Load)
	if err != nil {
		return err
	}
	defer unlock()
	if cond.IfVersion != "" {
		current, err := d.stat("put", key, final)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the key does not exist"))
		case err != nil:
			return err
		case current.Version != cond.IfVersion:
			return storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the version does not match"))
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return conflictError(key, "it is a directory of other keys")
		}
		return classify("put", key, err)
	}
	return nil
}

// Get implements storage.Driver.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if err := d.checkOpen("get", key); err != nil {
		return nil, storage.Attributes{}, err
	}
	f, attrs, err := d.open("get", key, d.path(key))
	if err != nil {
		return nil, storage.Attributes{}, err
	}
	if offset > attrs.Size {
		f.Close()
		return nil, storage.Attributes{}, storage.NewError(storage.ErrInvalidRange, "get", key,
			fmt.Errorf("offset %d is past the end of the object (size %d)", offset, attrs.Size))
	}
	n := attrs.Size - offset
	if length >= 0 && length < n {
		n = length
	}
	return &rangeReader{ctx: ctx, key: key, f: f, r: io.NewSectionReader(f, offset, n)}, attrs, nil
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if err := d.checkOpen("stat", key); err != nil {
		return storage.Attributes{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, classify("stat", key, err)
	}
	return d.stat("stat", key, d.path(key))
}

func (d *Driver) stat(op, key, path string) (storage.Attributes, error) {
	f, attrs, err := d.open(op, key, path)
	if err != nil {
		return storage.Attributes{}, err
	}
	f.Close()
	return attrs, nil
}

// open opens the object's file and reads its attributes from the open descriptor, so
// that size, time and version all belong to the same file even while it is replaced.
func (d *Driver) open(op, key, path string) (*os.File, storage.Attributes, error) {
	f, err := openForReading(path)
	if err != nil {
		return nil, storage.Attributes{}, classify(op, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, storage.Attributes{}, classify(op, key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close() // a directory of other keys, or something not written by Lectern
		return nil, storage.Attributes{}, storage.NewError(storage.ErrNotFound, op, key, nil)
	}
	version, err := readVersion(f, fi)
	if err != nil {
		f.Close()
		return nil, storage.Attributes{}, classify(op, key, err)
	}
	return f, storage.Attributes{Key: key, Size: fi.Size(), Version: version, ModTime: fi.ModTime()}, nil
}

// openForReading opens a file read-only like os.Open, without os.Open's attempt to
// register the descriptor with the network poller: for a regular file on Linux that
// attempt costs two fcntl calls to make it non-blocking, an epoll_ctl that fails,
// and two fcntl calls to undo it — five of the sixteen system calls of a small GET
// (strace, docs/benchmarks-server.md). os.NewFile takes the descriptor as it is
// (blocking, one fcntl to find that out), which is what reads of regular files use
// anyway.
func openForReading(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// Delete implements storage.Driver.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if err := d.checkOpen("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return classify("delete", key, err) // an ended request deletes nothing
	}
	path := d.path(key)
	unlock, err := d.locks.lock(ctx, "delete", key, d.closed.Load)
	if err != nil {
		return err
	}
	// unlink(2), unlike os.Remove, never removes a directory: a key that is a
	// directory of other keys is not an object, so there is nothing to delete.
	err = syscall.Unlink(path)
	unlock()
	switch {
	case err == nil:
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return nil
	default:
		return classify("delete", key, &fs.PathError{Op: "unlink", Path: path, Err: err})
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// ErrNotExist: a concurrent Delete emptied the directory and pruned it
		// (fsyncing its parent) between the unlink and this sync, so the unlink is
		// as durable as the directory's removal.
		return classify("delete", key, err)
	}
	d.prune(dir)
	return nil
}

func conflictError(key, why string) error {
	return storage.NewError(storage.ErrInvalidArgument, "put", key, fmt.Errorf("the disk backend cannot store this key: %s", why))
}

// copyInto copies r into f at f's offset, through a pooled buffer, and classifies a
// failure as the file's (by its cause) or the reader's.
func copyInto(ctx context.Context, op, key string, f *os.File, r io.Reader) (int64, error) {
	// The writer records its own failures, so that any other error is the reader's;
	// wrapping the reader instead would hide its WriterTo (a bytes.Reader, a file)
	// and force a copy through the buffer.
	w := &ctxWriter{ctx: ctx, f: f}
	bp := copyBufferPool.Get().(*[]byte)
	n, err := io.CopyBuffer(w, r, *bp)
	copyBufferPool.Put(bp)
	if err == nil {
		return n, nil
	}
	if w.err == nil && !isContextErr(err) {
		// The caller's reader failed (a dropped upload, say): not a storage failure,
		// so it is passed on with its own category, if any (see storage.Driver).
		return n, fmt.Errorf("disk %s %q: reading the data: %w", op, key, err)
	}
	return n, classify(op, key, err)
}

// ctxWriter writes to a file in bounded chunks, checking the context before each, so a
// cancelled put stops within one chunk even when the source hands over all its bytes
// in a single Write (as bytes.Reader.WriteTo does). It keeps the first error it
// returned.
type ctxWriter struct {
	ctx context.Context
	f   *os.File
	err error
}

const writeChunk = 8 << 20

func (w *ctxWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			return written, err
		}
		n, err := w.f.Write(p[:min(len(p), writeChunk)])
		written += n
		if err != nil {
			w.err = err
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// rangeReader streams a range of an open file and stops once its context is done.
type rangeReader struct {
	ctx context.Context
	key string
	f   *os.File
	r   *io.SectionReader
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, classify("get", r.key, err)
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify("get", r.key, err)
	}
	return n, err
}

func (r *rangeReader) Close() error { return r.f.Close() }

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
