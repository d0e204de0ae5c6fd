package smb

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/lectern/lectern/core/storage"
)

// Get implements storage.Driver. A range of up to 1 MiB is read at once and its handle
// closed before Get returns, so that small reads hold the file open (which blocks its
// replacement) as briefly as possible; a larger range streams with several reads in
// flight, and its handle stays open until the body is closed.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if err := d.check("get", key); err != nil {
		return nil, storage.Attributes{}, err
	}
	var body io.ReadCloser
	var attrs storage.Attributes
	err := onceMoreIfClosed(ctx, func() (err error) {
		body, attrs, err = d.get(ctx, key, offset, length)
		return err
	})
	return body, attrs, err
}

// get is one try of Get: nothing it did is seen once it fails.
func (d *Driver) get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	c, err := d.pool.get(ctx)
	if err != nil {
		return nil, storage.Attributes{}, err
	}
	o := &opConn{c: c}
	ioCtx, stop := detach(ctx, cleanupGrace)
	handedOver := false
	defer func() {
		if !handedOver {
			stop()
			d.pool.put(c, o.bad)
		}
	}()
	sh := c.on(ioCtx)
	p := d.path(key)
	if err := o.note(d.waitUnlocked(ctx, sh, p)); err != nil {
		return nil, storage.Attributes{}, classify("get", key, err)
	}
	f, err := d.openForRead(ctx, sh, p)
	if err != nil {
		return nil, storage.Attributes{}, classify("get", key, o.note(err))
	}
	fail := func(err error) (io.ReadCloser, storage.Attributes, error) {
		o.note(f.Close())
		return nil, storage.Attributes{}, err
	}
	st, err := f.Stat()
	if err != nil {
		return fail(classify("get", key, o.note(err)))
	}
	if st.IsDir() {
		return fail(storage.NewError(storage.ErrNotFound, "get", key, errors.New("a folder has this name")))
	}
	attrs := attributesOf(key, st.(*smb2.FileStat))
	if offset > attrs.Size {
		return fail(storage.NewError(storage.ErrInvalidRange, "get", key, nil))
	}
	end := attrs.Size
	if length >= 0 && length < end-offset { // not offset+length: it can overflow
		end = offset + length
	}
	if end-offset <= chunkSize {
		buf := make([]byte, end-offset)
		if len(buf) > 0 {
			n, err := f.ReadAt(buf, offset)
			if n != len(buf) {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fail(classify("get", key, o.note(err)))
			}
		}
		if err := f.Close(); err != nil {
			return nil, storage.Attributes{}, classify("get", key, o.note(err))
		}
		return io.NopCloser(ctxReader{ctx, bytes.NewReader(buf)}), attrs, nil
	}
	handedOver = true
	c.tcp.disengage() // the body's reads engage it while they are in flight
	var once sync.Once
	body := &download{ctx: ctx, key: key, tcp: c.tcp, f: f, next: offset, end: end, inflight: d.cfg.InFlight}
	body.done = func(error) error {
		var err error
		once.Do(func() {
			c.tcp.engage() // as during Get: pool.put disengages
			err = o.note(f.Close())
			stop()
			d.pool.put(c, o.bad)
		})
		if err != nil {
			return classify("get", key, err)
		}
		return nil
	}
	return body, attrs, nil
}

// maxNotFoundRechecks bounds how often openForRead looks again after a not-found.
const maxNotFoundRechecks = 3

// openForRead opens the file at p for reading. A writer's rename briefly holds the
// file open without sharing read access (the handle that renamed the temporary file in
// is closed a round trip later), so a sharing violation is retried for a short while.
//
// A not-found is checked again the same way: Samba replacing a file that another
// client has open can leave the name briefly without an entry (seen once, under full
// test-suite load, in the conformance suite's 64 readers and writers; not reproduced
// in isolation), and the writer holds the key's lock
// throughout. So a not-found while the key is locked, or just after, is a replace in
// progress: wait for the lock and open again, a bounded number of times. A key that
// is really missing costs one more open.
func (d *Driver) openForRead(ctx context.Context, sh *smb2.Share, p string) (*smb2.File, error) {
	backoff := busyBackoffMin
	deadline := time.Now().Add(readerWait)
	rechecks := 0
	for {
		f, err := sh.Open(p)
		if errors.Is(err, os.ErrNotExist) && rechecks < maxNotFoundRechecks && !time.Now().After(deadline) {
			rechecks++
			if werr := d.waitUnlocked(ctx, sh, p); werr != nil {
				return nil, werr
			}
			continue
		}
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return f, err
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return nil, err
		}
		backoff = min(backoff*2, busyBackoffMax)
	}
}

// List implements storage.Driver. It walks the folders below the prefix's deepest
// folder depth first, each folder's entries sorted so that the walk yields keys in
// ascending byte order: a folder sorts as its name followed by "/", which is where
// all of its keys sort among its siblings. Dot-names (temporary and lock files) are
// never keys and are skipped. Only one folder's entries are held at a time.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		if err := d.check("list", prefix); err != nil {
			yield(storage.Attributes{}, err)
			return
		}
		start := ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			start = prefix[:i+1]
		}
		_ = d.walk(ctx, start, prefix, true, yield)
	}
}

type entry struct {
	sortKey string // the key, or a folder's path with a trailing "/"
	info    *smb2.FileStat
}

// walk lists folder (a key prefix ending in "/", or "" for the root) and recurses. It
// returns false once yield asked to stop or an error was yielded.
func (d *Driver) walk(ctx context.Context, folder, prefix string, top bool, yield func(storage.Attributes, error) bool) bool {
	if err := ctx.Err(); err != nil {
		yield(storage.Attributes{}, err)
		return false
	}
	entries, err := d.readDir(ctx, folder)
	// A folder being removed (the prune after its last key went, by this client or
	// another) is held open for the removal: Samba and Windows refuse the listing's
	// open of it with a sharing violation for that moment. Wait a little for it.
	for attempt := 1; hasStatus(err, statusSharingViolation) && attempt <= listBusyAttempts; attempt++ {
		if serr := sleep(ctx, time.Duration(attempt)*listBusyBackoff); serr != nil {
			yield(storage.Attributes{}, serr)
			return false
		}
		entries, err = d.readDir(ctx, folder)
	}
	if errors.Is(err, os.ErrNotExist) || hasStatus(err, statusNotADirectory, statusDeletePending, statusNoSuchFile, statusFileDeleted) {
		// No such folder, or it went away (or is going) while it was read: a folder
		// is only ever removed empty, so it holds no keys.
		return true
	}
	if err != nil {
		yield(storage.Attributes{}, classify("list", prefix, err))
		return false
	}
	for _, e := range entries {
		if e.info.IsDir() {
			if strings.HasPrefix(e.sortKey, prefix) || strings.HasPrefix(prefix, e.sortKey) {
				if !d.walk(ctx, e.sortKey, prefix, false, yield) {
					return false
				}
			}
			continue
		}
		if strings.HasPrefix(e.sortKey, prefix) {
			if err := ctx.Err(); err != nil {
				yield(storage.Attributes{}, err)
				return false
			}
			if !yield(attributesOf(e.sortKey, e.info), nil) {
				return false
			}
		}
	}
	return true
}

// listBusyAttempts and listBusyBackoff bound walk's wait for a folder that is being
// removed: 8 more tries, 10 ms more apart each time (360 ms in all).
const (
	listBusyAttempts = 8
	listBusyBackoff  = 10 * time.Millisecond
)

// readDir returns folder's entries, sorted for walk, on a connection of its own (no
// connection is held while the caller consumes keys).
func (d *Driver) readDir(ctx context.Context, folder string) ([]entry, error) {
	var entries []entry
	err := onceMoreIfClosed(ctx, func() (err error) {
		entries, err = d.readDirOnce(ctx, folder)
		return err
	})
	return entries, err
}

func (d *Driver) readDirOnce(ctx context.Context, folder string) ([]entry, error) {
	c, err := d.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	p := d.path(folder)
	var infos []os.FileInfo
	if p == "" {
		infos, err = c.on(ctx).ReadDir(".")
	} else {
		infos, err = c.on(ctx).ReadDir(p)
	}
	if err != nil && hasStatus(err, statusNotSupported, statusNotADirectory, statusInvalidParameter) {
		// Listing a file fails with one of these; a file is a folder without keys.
		// Only a Stat that confirms it is a file makes this an empty listing, so that a
		// server that cannot list does not pass for an empty folder.
		if fi, serr := c.on(ctx).Stat(p); serr == nil && !fi.IsDir() {
			d.pool.put(c, nil)
			return nil, nil
		}
	}
	d.pool.put(c, err)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(infos))
	for _, fi := range infos {
		name := fi.Name()
		if name == "" || name[0] == '.' {
			continue
		}
		fs, ok := fi.(*smb2.FileStat)
		if !ok {
			continue
		}
		k := folder + name
		if fs.IsDir() {
			k += "/"
		}
		entries = append(entries, entry{sortKey: k, info: fs})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.sortKey, b.sortKey) })
	return entries, nil
}
