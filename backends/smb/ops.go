package smb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

// busyWait bounds the retries of a rename or delete that an open handle blocks (a
// reader streaming the object, on this or another machine).
const (
	busyWait       = 10 * time.Second
	busyBackoffMin = time.Millisecond
	busyBackoffMax = 50 * time.Millisecond
)

// opConn tracks what the requests of one operation taught about its connection.
type opConn struct {
	c   *conn
	bad error // a transport error or an abandoned request: the connection must go
}

// note records err if it condemns the connection, and returns it.
func (o *opConn) note(err error) error {
	if err != nil && o.bad == nil && (isConnectionLost(err) || isContext(err)) {
		o.bad = err
	}
	return err
}

// Put implements storage.Driver: temporary file, handles closed, stamp, lock, check,
// rename over the key's file.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if err := d.check("put", key); err != nil {
		return storage.Attributes{}, err
	}
	w, err := d.beginChange(ctx)
	if err != nil {
		return storage.Attributes{}, err
	}
	defer d.endChange(w)
	c, o, ioCtx, sh := w.c, w.o, w.ioCtx, w.sh

	p := d.path(key)
	tmp := tempPath(p)
	f, err := d.createTemp(sh, key, tmp)
	if err != nil && closedByServer(err) && ctx.Err() == nil {
		// Nothing of r is read yet, and at most the temporary file exists (the server
		// may have created it before the connection went): a fresh connection removes
		// it and tries again (see onceMoreIfClosed), under a new temporary name.
		if err = d.redial(ctx, w, err); err == nil {
			c, o, sh = w.c, w.o, w.sh
			if rerr := sh.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				// Best effort, as after any failed put: a leftover is dot-named, never
				// listed or read, and removed once its folder holds nothing else.
				d.log.Debug("smb: could not remove the temporary file of a put's first try", "path", tmp, "err", o.note(rerr))
			}
			tmp = tempPath(p)
			f, err = d.createTemp(sh, key, tmp)
		}
	}
	if err != nil {
		if w.c != nil {
			d.pruneEmpty(sh, p)
		}
		return storage.Attributes{}, classify("put", key, o.note(err))
	}
	committed := false
	defer func() {
		if !committed {
			// Best effort: a leftover is dot-named, so never listed or read.
			o.note(sh.Remove(tmp))
			d.pruneEmpty(sh, p)
		}
	}()
	size, werr := upload(ctx, c.tcp, f, r, d.cfg.InFlight, opts.Size)
	if werr == nil {
		// Flushed before the rename publishes it, as Append does: the contract
		// promises a put is durable when it returns, and a file server that loses
		// power with the bytes only in its cache could otherwise bring back the new
		// name with no data (an empty journal record stops its conference's open).
		werr = o.note(f.Sync())
	}
	var created time.Time
	if werr == nil {
		// The creation time is read from the handle: it survives the rename.
		var st os.FileInfo
		if st, werr = f.Stat(); werr == nil {
			created = st.(*smb2.FileStat).CreationTime
		}
		o.note(werr)
	}
	if cerr := o.note(f.Close()); werr == nil {
		werr = cerr
	}
	if werr != nil {
		var re *readerError
		if errors.As(werr, &re) {
			return storage.Attributes{}, fmt.Errorf("smb put %q: reading the data: %w", key, re.err)
		}
		return storage.Attributes{}, classify("put", key, o.note(werr))
	}
	// The last-write time gets random sub-second digits (in 100 ns units, the SMB
	// resolution), so that two puts in one clock tick never share a version, even on
	// a server whose clock is coarse or that tunnels creation times (Windows).
	now := time.Now()
	stamp := time.Unix(now.Unix(), int64(rand.IntN(10_000_000))*100)
	if err := sh.Chtimes(tmp, stamp, stamp); err != nil {
		return storage.Attributes{}, classify("put", key, o.note(err))
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, fmt.Errorf("smb put %q: %w", key, err)
	}

	l, err := d.lock(ctx, ioCtx, c, "put", key, p)
	if err != nil {
		if errors.Is(err, errNoFolder) {
			// The temporary file is in that folder, so it cannot be missing: only a
			// server that lost our folder (or a connection) gets here.
			err = storage.NewError(storage.ErrUnavailable, "put", key, err)
		}
		return storage.Attributes{}, o.note(err)
	}
	defer func() { o.note(l.release(c, ioCtx)) }()

	if !opts.Condition.IsZero() {
		fi, err := sh.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return storage.Attributes{}, storage.NewError(storage.ErrInvalidArgument, "put", key, errors.New("a folder has this name (keys under it exist)"))
		case err == nil && opts.IfNotExists:
			return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the key exists"))
		case err == nil && versionOf(fi.(*smb2.FileStat)) != opts.IfVersion:
			return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the version does not match"))
		case errors.Is(err, os.ErrNotExist) && opts.IfVersion != "":
			return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the key does not exist"))
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return storage.Attributes{}, classify("put", key, o.note(err))
		}
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, fmt.Errorf("smb put %q: %w", key, err)
	}
	err = d.retryBusy(ctx, "put", key, l, func() error { return o.note(sh.Rename(tmp, p)) }, func(err error) bool {
		// ACCESS_DENIED (os.ErrPermission) is how Windows and Samba refuse to replace
		// a file somebody has open; a real permission problem would have failed the
		// temporary file's creation in the same folder already.
		return isBusy(err) || errors.Is(err, os.ErrPermission)
	})
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return storage.Attributes{}, storage.NewError(storage.ErrInvalidArgument, "put", key, errors.New("a folder has this name (keys under it exist)"))
		}
		return storage.Attributes{}, classify("put", key, err)
	}
	committed = true
	return storage.Attributes{Key: key, Size: size, Version: version(created, stamp, size), ModTime: stamp}, nil
}

// change is the connection of an operation that changes a key under its lock (Put,
// Delete, Move). Its requests run on a context detached from the caller's, so that a
// cancellation never abandons the lock's creation half-way (which would leave a lock
// file for staleAfter); the caller's context still bounds the waits.
type change struct {
	c     *conn
	o     *opConn
	ioCtx context.Context
	sh    *smb2.Share
	stop  func()
}

func (d *Driver) beginChange(ctx context.Context) (*change, error) {
	c, err := d.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	ioCtx, stop := detach(ctx, cleanupGrace)
	return &change{c: c, o: &opConn{c: c}, ioCtx: ioCtx, sh: c.on(ioCtx), stop: stop}, nil
}

// redial drops w's connection, which failed with cause, for another from the pool.
// On failure w has no connection (endChange accepts that).
func (d *Driver) redial(ctx context.Context, w *change, cause error) error {
	w.o.note(cause)
	d.pool.put(w.c, w.o.bad)
	w.c = nil
	c, err := d.pool.get(ctx)
	if err != nil {
		return err
	}
	w.c, w.o, w.sh = c, &opConn{c: c}, c.on(w.ioCtx)
	return nil
}

// endChange gives the connection back, or drops it after a transport error.
func (d *Driver) endChange(w *change) {
	w.stop()
	d.pool.put(w.c, w.o.bad)
}

// createTemp creates the temporary file, and the key's folders when they are missing
// (a concurrent delete may prune them between the two: then it tries again).
func (d *Driver) createTemp(sh *smb2.Share, key, tmp string) (*smb2.File, error) {
	dir, _ := splitPath(tmp)
	for attempt := range createAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
		}
		f, err := sh.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil || !goneOrGoing(err) {
			return f, err
		}
		if err := d.mkdirAll(sh, key, dir); err != nil && !goneOrGoing(err) {
			return nil, err
		}
		// A folder of the path was removed (or is being removed) by the prune of
		// another put or delete, between our look and our create: make it again.
	}
	return nil, storage.NewError(storage.ErrUnavailable, "put", key, errors.New("its folder kept being removed by concurrent deletes"))
}

// createAttempts bounds createTemp's races with prunes of the folders it needs.
const createAttempts = 8

// goneOrGoing reports an error of a path with a folder that does not exist, or that
// is being removed (delete pending).
func goneOrGoing(err error) bool {
	return errors.Is(err, os.ErrNotExist) || hasStatus(err, statusDeletePending)
}

// mkdirAll creates dir and its parents. A path running through an existing file (key
// a/b when a is an object) is an invalid argument.
func (d *Driver) mkdirAll(sh *smb2.Share, key, dir string) error {
	if dir == "" {
		return nil
	}
	parts := strings.Split(dir, `\`)
	for i := range parts {
		p := strings.Join(parts[:i+1], `\`)
		err := sh.Mkdir(p, 0o755)
		if err == nil || !errors.Is(err, os.ErrExist) {
			if err != nil {
				return err
			}
			continue
		}
		fi, serr := sh.Stat(p)
		if serr == nil && !fi.IsDir() {
			return storage.NewError(storage.ErrInvalidArgument, "put", key, fmt.Errorf("%q is an object, so it cannot hold keys", d.keyOf(p)))
		}
	}
	return nil
}

// retryBusy runs do, under the key's lock l, until it succeeds, fails for another
// reason than busy, ctx ends, or busyWait passes (then the object is reported
// unavailable). It never starts do once l is too old to act under (see lock.go).
func (d *Driver) retryBusy(ctx context.Context, op, key string, l *keyLock, do func() error, busy func(error) bool) error {
	backoff := busyBackoffMin
	deadline := time.Now().Add(d.busyWait)
	for {
		if l.expired() {
			return storage.NewError(storage.ErrUnavailable, op, key, errors.New("held the key's lock too long (slow server?); gave up rather than risk acting under a broken lock"))
		}
		err := do()
		if err == nil || !busy(err) {
			return err
		}
		if time.Now().After(deadline) {
			return storage.NewError(storage.ErrUnavailable, op, key, fmt.Errorf("the file stayed open elsewhere (sharing violation) for %v: %w", d.busyWait, err))
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return fmt.Errorf("smb %s %q: %w", op, key, err)
		}
		backoff = min(backoff*2, busyBackoffMax)
	}
}

func version(created, modified time.Time, size int64) string {
	return fmt.Sprintf("%x.%x.%x", created.UnixNano(), modified.UnixNano(), size)
}

func versionOf(fs *smb2.FileStat) string {
	return version(fs.CreationTime, fs.LastWriteTime, fs.EndOfFile)
}

func attributesOf(key string, fs *smb2.FileStat) storage.Attributes {
	return storage.Attributes{Key: key, Size: fs.EndOfFile, Version: versionOf(fs), ModTime: fs.LastWriteTime}
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if err := d.check("stat", key); err != nil {
		return storage.Attributes{}, err
	}
	var fi os.FileInfo
	err := onceMoreIfClosed(ctx, func() error {
		c, err := d.pool.get(ctx)
		if err != nil {
			return err
		}
		fi, err = c.on(ctx).Stat(d.path(key))
		d.pool.put(c, err)
		return err
	})
	if err != nil {
		return storage.Attributes{}, classify("stat", key, err)
	}
	if fi.IsDir() {
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "stat", key, errors.New("a folder has this name"))
	}
	return attributesOf(key, fi.(*smb2.FileStat)), nil
}

// Delete implements storage.Driver: under the key's lock, then the emptied folders are
// pruned.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if err := d.check("delete", key); err != nil {
		return err
	}
	w, err := d.beginChange(ctx)
	if err != nil {
		return err
	}
	defer d.endChange(w)
	c, o, ioCtx, sh := w.c, w.o, w.ioCtx, w.sh
	p := d.path(key)
	l, err := d.lock(ctx, ioCtx, c, "delete", key, p)
	if errors.Is(err, errNoFolder) {
		return nil // no folder, no key
	}
	if err != nil {
		return o.note(err)
	}
	err = d.retryBusy(ctx, "delete", key, l, func() error {
		err := o.note(sh.Remove(p))
		if errors.Is(err, os.ErrNotExist) || hasStatus(err, statusDirectoryNotEmpty) || hasStatus(err, statusFileIsADirectory) {
			return nil // missing, or a folder of other keys: no object to delete
		}
		return err
	}, isBusy)
	if rerr := o.note(l.release(c, ioCtx)); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return classify("delete", key, err)
	}
	d.prune(sh, p)
	return nil
}

// pruneEmpty removes the empty folders above p, up to the driver's folder: those a
// failed put or move made for its key and left empty, which would otherwise stay for
// good (no listing shows them) and keep a key of their name from being stored. Unlike
// prune it never looks inside a folder that is not empty, so a put refused beside
// other keys costs one refused remove.
func (d *Driver) pruneEmpty(sh *smb2.Share, p string) {
	dir, _ := splitPath(p)
	// The key's parent may be a file (a put of "a/b" refused beside the key "a"), and
	// SMB's remove takes files too. Above it every parent is a folder.
	if fi, err := sh.Stat(dir); err != nil || !fi.IsDir() {
		return
	}
	for dir != "" && dir != d.base && len(dir) > len(d.base) {
		if sh.Remove(dir) != nil {
			return // not empty (the usual case), or gone
		}
		dir, _ = splitPath(dir)
	}
}

// prune removes the now empty folders above p, up to the driver's folder. It stops at
// the first folder that is not empty or that somebody uses (a put creating a file in
// it recreates the folder if it loses that race, see createTemp). A folder that holds
// only dead puts' temporary files is emptied first (removeDeadTemps).
func (d *Driver) prune(sh *smb2.Share, p string) {
	dir, _ := splitPath(p)
	for dir != "" && dir != d.base && len(dir) > len(d.base) {
		err := sh.Remove(dir)
		if err != nil && d.removeDeadTemps(sh, dir) {
			err = sh.Remove(dir)
		}
		if err != nil {
			return
		}
		dir, _ = splitPath(dir)
	}
}
