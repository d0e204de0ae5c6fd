// Package memory is an in-process storage backend for unit tests of the engine and for
// the conformance suite's own tests. It is never the proof of another backend.
//
// It knows only the storage contract. Several Driver instances may share one Store, so
// that a "second instance sees the first's writes" as with a real shared backend.
package memory

import (
	"bytes"
	"context"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// Store holds the objects. Its zero value is not usable; call NewStore.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
	counter uint64
}

type object struct {
	data    []byte // never mutated after it is stored
	version string
	modTime time.Time
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{objects: make(map[string]object)} }

var (
	namedMu sync.Mutex
	named   = map[string]*Store{}
)

// Named returns the process-wide store with this name, creating it on first use; it
// backs mem://name URLs.
func Named(name string) *Store {
	namedMu.Lock()
	defer namedMu.Unlock()
	s, ok := named[name]
	if !ok {
		s = NewStore()
		named[name] = s
	}
	return s
}

// Driver is one handle on a Store.
type Driver struct {
	store  *Store
	mu     sync.RWMutex
	closed bool
}

// New returns a driver over store.
func New(store *Store) *Driver { return &Driver{store: store} }

// Open returns a Bucket over a new private store.
func Open() *storage.Bucket { return storage.NewBucket(New(NewStore())) }

var (
	_ storage.Driver   = (*Driver)(nil)
	_ storage.Mover    = (*Driver)(nil)
	_ storage.Appender = (*Driver)(nil)
	_ storage.Composer = (*Driver)(nil)
)

func (d *Driver) check(op, key string) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return storage.NewError(storage.ErrClosed, op, key, nil)
	}
	return nil
}

// Put implements storage.Driver. The whole object is read before it is stored, so a
// failing reader or a cancelled context leaves the old object in place.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Attributes, error) {
	if err := d.check("put", key); err != nil {
		return storage.Attributes{}, err
	}
	buf, err := readAll(ctx, r)
	if err != nil {
		return storage.Attributes{}, err
	}
	s := d.store
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.objects[key]
	if opts.IfNotExists && exists {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, nil)
	}
	if opts.IfVersion != "" && (!exists || cur.version != opts.IfVersion) {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, nil)
	}
	return s.store(key, buf), nil
}

// store sets key's object to data with a new version; the caller holds s.mu.
func (s *Store) store(key string, data []byte) storage.Attributes {
	s.counter++
	obj := object{data: data, version: "m" + strconv.FormatUint(s.counter, 10), modTime: time.Now()}
	s.objects[key] = obj
	return obj.attributes(key)
}

// readAll reads r to the end, stopping once ctx is done.
func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(contextReader{ctx, r})
	return buf.Bytes(), err
}

func (o object) attributes(key string) storage.Attributes {
	return storage.Attributes{Key: key, Size: int64(len(o.data)), Version: o.version, ModTime: o.modTime}
}

// Get implements storage.Driver.
func (d *Driver) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if err := d.check("get", key); err != nil {
		return nil, storage.Attributes{}, err
	}
	d.store.mu.RLock()
	obj, ok := d.store.objects[key]
	d.store.mu.RUnlock()
	if !ok {
		return nil, storage.Attributes{}, storage.NewError(storage.ErrNotFound, "get", key, nil)
	}
	size := int64(len(obj.data))
	if offset > size {
		return nil, storage.Attributes{}, storage.NewError(storage.ErrInvalidRange, "get", key, nil)
	}
	end := size
	if length >= 0 && length < size-offset { // not offset+length: it can overflow
		end = offset + length
	}
	body := contextReader{ctx, bytes.NewReader(obj.data[offset:end])}
	return io.NopCloser(body), obj.attributes(key), nil
}

// Move implements storage.Mover: the object changes its key under the store's lock.
func (d *Driver) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	if err := d.check("move", src); err != nil {
		return storage.Attributes{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, err
	}
	s := d.store
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[src]
	if !ok {
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "move", src, nil)
	}
	if _, exists := s.objects[dst]; exists {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "move", dst, nil)
	}
	delete(s.objects, src)
	s.objects[dst] = obj
	return obj.attributes(dst), nil
}

// Append implements storage.Appender. The bytes are read before the store is
// touched, so a failing reader or a cancelled context changes nothing (which the
// contract allows: it only promises the first offset bytes).
func (d *Driver) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	if err := d.check("append", key); err != nil {
		return storage.Attributes{}, err
	}
	buf, err := readAll(ctx, r)
	if err != nil {
		return storage.Attributes{}, err
	}
	s := d.store
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.objects[key]
	switch {
	case !ok:
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "append", key, nil)
	case ifVersion != "" && cur.version != ifVersion:
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "append", key, nil)
	case int64(len(cur.data)) < offset:
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "append", key, nil)
	}
	// A new slice: stored data is never mutated, since readers may hold it.
	data := make([]byte, 0, offset+int64(len(buf)))
	data = append(append(data, cur.data[:offset]...), buf...)
	return s.store(key, data), nil
}

// Compose implements storage.Composer under the store's lock.
func (d *Driver) Compose(ctx context.Context, dst string, srcs []string) (storage.Attributes, error) {
	if err := d.check("compose", dst); err != nil {
		return storage.Attributes{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, err
	}
	s := d.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.objects[dst]; exists {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "compose", dst, nil)
	}
	var data []byte
	for _, src := range srcs {
		obj, ok := s.objects[src]
		if !ok {
			return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "compose", src, nil)
		}
		data = append(data, obj.data...)
	}
	return s.store(dst, data), nil
}

// ComposeLimits implements storage.Composer: the memory driver has none.
func (d *Driver) ComposeLimits() (int64, int) { return 0, 0 }

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	if err := d.check("stat", key); err != nil {
		return storage.Attributes{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, err
	}
	d.store.mu.RLock()
	defer d.store.mu.RUnlock()
	obj, ok := d.store.objects[key]
	if !ok {
		return storage.Attributes{}, storage.NewError(storage.ErrNotFound, "stat", key, nil)
	}
	return obj.attributes(key), nil
}

// Delete implements storage.Driver.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if err := d.check("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // an ended request deletes nothing
	}
	d.store.mu.Lock()
	defer d.store.mu.Unlock()
	delete(d.store.objects, key)
	return nil
}

// List implements storage.Driver. It takes a sorted snapshot of the matching keys.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		if err := d.check("list", prefix); err != nil {
			yield(storage.Attributes{}, err)
			return
		}
		d.store.mu.RLock()
		var found []storage.Attributes
		for k, o := range d.store.objects {
			if strings.HasPrefix(k, prefix) {
				found = append(found, o.attributes(k))
			}
		}
		d.store.mu.RUnlock()
		slices.SortFunc(found, func(a, b storage.Attributes) int { return strings.Compare(a.Key, b.Key) })
		for _, a := range found {
			if err := ctx.Err(); err != nil {
				yield(storage.Attributes{}, err)
				return
			}
			if !yield(a, nil) {
				return
			}
		}
	}
}

// Capabilities implements storage.Driver.
func (d *Driver) Capabilities() storage.Capabilities {
	return storage.Capabilities{ConditionalCreate: true, ConditionalReplace: true, SharedAcrossInstances: true}
}

// Close implements storage.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

// contextReader stops reading once ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
