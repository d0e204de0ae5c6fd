package conformance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/core/storage"
)

// Deliberately broken drivers. Each wraps a correct memory driver and breaks exactly
// one promise of the contract, the way real backends get it wrong; the suite must
// notice every one of them (see broken_test.go).

// brokenDrivers maps a name to a constructor over a shared store.
var brokenDrivers = map[string]func(*memory.Store) storage.Driver{
	// correct is the control: the unbroken memory driver, which must pass.
	"correct": func(s *memory.Store) storage.Driver { return memory.New(s) },
	// correct_without_conditional_replace is a control too: honest about lacking
	// replace-if-version, it must pass (the checks that need it skip).
	"correct_without_conditional_replace": func(s *memory.Store) storage.Driver { return &noReplace{memory.New(s)} },
	"non_atomic_put":                      func(s *memory.Store) storage.Driver { return &inPlacePut{memory.New(s)} },
	"unlocked_conditional":                func(s *memory.Store) storage.Driver { return &checkThenWrite{memory.New(s)} },
	"unordered_list":                      func(s *memory.Store) storage.Driver { return &reversedList{memory.New(s)} },
	"range_off_by_one":                    func(s *memory.Store) storage.Driver { return &rangeOffByOne{memory.New(s)} },
	"unclassified_not_found":              func(s *memory.Store) storage.Driver { return &plainNotFound{memory.New(s)} },
	"delete_missing_errors":               func(s *memory.Store) storage.Driver { return &strictDelete{memory.New(s)} },
	"stale_version_accepted":              func(s *memory.Store) storage.Driver { return &ignoresVersion{memory.New(s)} },
	"content_hash_version":                func(s *memory.Store) storage.Driver { return &hashVersion{Driver: memory.New(s)} },
	"ignores_cancellation":                func(s *memory.Store) storage.Driver { return &noCancel{memory.New(s)} },
	"visible_temp_files":                  func(s *memory.Store) storage.Driver { return &leaksTemp{memory.New(s)} },
	"trusts_size_hint":                    func(s *memory.Store) storage.Driver { return &trustsSize{memory.New(s)} },
	"undeclared_file_tree":                func(s *memory.Store) storage.Driver { return &fileTree{memory.New(s)} },
	"move_keeps_source":                   func(s *memory.Store) storage.Driver { return &copyingMover{memory.New(s)} },
	"move_replaces_target":                func(s *memory.Store) storage.Driver { return &replacingMover{memory.New(s)} },
	"append_at_end":                       func(s *memory.Store) storage.Driver { return &endAppender{memory.New(s)} },
	"append_any_version":                  func(s *memory.Store) storage.Driver { return &unversionedAppender{memory.New(s)} },
	"compose_replaces_target":             func(s *memory.Store) storage.Driver { return &replacingComposer{memory.New(s)} },
	"leftovers_take_old_objects":          func(s *memory.Store) storage.Driver { return &greedyLeftovers{memory.New(s)} },
	"crashing_stat":                       func(s *memory.Store) storage.Driver { return &crashingStat{memory.New(s)} },
	"no_modtime":                          func(s *memory.Store) storage.Driver { return &timeless{timelessList{memory.New(s)}} },
	"list_zero_modtime":                   func(s *memory.Store) storage.Driver { return &timelessList{memory.New(s)} },
	"put_deaf_midway":                     func(s *memory.Store) storage.Driver { return &deafPut{memory.New(s)} },
	"append_deaf_midway":                  func(s *memory.Store) storage.Driver { return &deafAppend{memory.New(s)} },
	"version_reused_after_delete":         newGenerations,
	// The outage_ drivers run with a ServerControl (see TestBrokenHelper).
	"outage_control":       func(s *memory.Store) storage.Driver { return &outage{memory.New(s)} },
	"outage_writes_anyway": func(s *memory.Store) storage.Driver { return &outageWritesAnyway{outage{memory.New(s)}} },
}

// noReplace declares no ConditionalReplace; the Bucket then refuses if-version puts
// before they reach it.
type noReplace struct{ *memory.Driver }

func (d *noReplace) Capabilities() storage.Capabilities {
	c := d.Driver.Capabilities()
	c.ConditionalReplace = false
	return c
}

// generations versions an object by a per-key generation counter (g1, g2, ...) kept
// beside it and removed with it, so that a key deleted and created again starts at g1
// again: a writer holding g1 from before the delete overwrites the new object. The
// counters live with the store, shared by its instances, as a sidecar file would be.
// Move, Append and Compose are hidden (those groups skip): they would change objects
// behind the counters' back.
type generations struct {
	storage.Driver
	st *genState
}

type genState struct {
	mu      sync.Mutex
	gen     map[string]int    // key -> generation of its object
	version map[string]string // key -> the memory driver's version of that object
}

var (
	genStatesMu sync.Mutex
	genStates   = map[*memory.Store]*genState{}
)

func newGenerations(s *memory.Store) storage.Driver {
	genStatesMu.Lock()
	defer genStatesMu.Unlock()
	st := genStates[s]
	if st == nil {
		st = &genState{gen: map[string]int{}, version: map[string]string{}}
		genStates[s] = st
	}
	return &generations{Driver: memory.New(s), st: st}
}

func (d *generations) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	data, err := io.ReadAll(watching{ctx, r})
	if err != nil {
		return storage.Attributes{}, err
	}
	d.st.mu.Lock() // makes the conditional put atomic; only the versions are wrong
	defer d.st.mu.Unlock()
	gen, exists := d.st.gen[key]
	if o.IfNotExists && exists || o.IfVersion != "" && (!exists || "g"+strconv.Itoa(gen) != o.IfVersion) {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, nil)
	}
	a, err := d.Driver.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))})
	if err != nil {
		return a, err
	}
	d.st.gen[key]++
	d.st.version[key] = a.Version
	a.Version = "g" + strconv.Itoa(d.st.gen[key])
	return a, nil
}

// relabel gives attributes read from the memory driver their generation.
func (d *generations) relabel(a storage.Attributes) storage.Attributes {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.st.version[a.Key] == a.Version {
		a.Version = "g" + strconv.Itoa(d.st.gen[a.Key])
	}
	return a
}

func (d *generations) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	a, err := d.Driver.Stat(ctx, key)
	return d.relabel(a), err
}

func (d *generations) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, offset, length)
	return rc, d.relabel(a), err
}

func (d *generations) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		for a, err := range d.Driver.List(ctx, prefix) {
			a.Version = "" // allowed in a listing
			if !yield(a, err) {
				return
			}
		}
	}
}

func (d *generations) Delete(ctx context.Context, key string) error {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if err := d.Driver.Delete(ctx, key); err != nil {
		return err
	}
	delete(d.st.gen, key) // the counter goes with the object
	delete(d.st.version, key)
	return nil
}

// deafPut looks at its context when it starts only: the transfer runs detached from
// it, as an HTTP body sent with context.Background() would.
type deafPut struct{ *memory.Driver }

func (d *deafPut) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Put(context.WithoutCancel(ctx), key, r, o)
}

// deafAppend looks at its context when it starts only.
type deafAppend struct{ *memory.Driver }

func (d *deafAppend) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	if err := ctx.Err(); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Append(context.WithoutCancel(ctx), key, offset, r, ifVersion)
}

// timelessList lists entries without their modification time, as a listing parser
// that drops LastModified would; Stat and Get have it right.
type timelessList struct{ *memory.Driver }

func (d *timelessList) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		for a, err := range d.Driver.List(ctx, prefix) {
			a.ModTime = time.Time{}
			if !yield(a, err) {
				return
			}
		}
	}
}

// crashingStat panics in Stat, as a driver with a nil map or an unchecked index does.
type crashingStat struct{ *memory.Driver }

func (d *crashingStat) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	var cache map[string]*storage.Attributes
	return *cache[key], nil
}

// timeless never fills in ModTime, in List or anywhere else.
type timeless struct{ timelessList }

func (d *timeless) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	a, err := d.Driver.Put(ctx, key, r, o)
	a.ModTime = time.Time{}
	return a, err
}

func (d *timeless) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	a, err := d.Driver.Stat(ctx, key)
	a.ModTime = time.Time{}
	return a, err
}

func (d *timeless) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, offset, length)
	a.ModTime = time.Time{}
	return rc, a, err
}

// greedyLeftovers counts every object written before the given time as a leftover,
// as a driver that lists the wrong things (objects instead of unfinished uploads)
// would.
type greedyLeftovers struct{ *memory.Driver }

func (d *greedyLeftovers) RemoveLeftovers(ctx context.Context, before time.Time) (int, error) {
	var old []string
	for a, err := range d.List(ctx, "") {
		if err != nil {
			return 0, err
		}
		if a.ModTime.Before(before) {
			old = append(old, a.Key)
		}
	}
	for _, k := range old {
		if err := d.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// replacingComposer composes over an existing destination, as a multipart upload
// completed without If-None-Match would.
type replacingComposer struct{ *memory.Driver }

func (d *replacingComposer) Compose(ctx context.Context, dst string, srcs []string) (storage.Attributes, error) {
	if err := d.Delete(ctx, dst); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Compose(ctx, dst, srcs)
}

// endAppender appends at the object's end whatever the offset, as an O_APPEND write
// would: nothing is ever cut.
type endAppender struct{ *memory.Driver }

func (d *endAppender) Append(ctx context.Context, key string, offset int64, r io.Reader, ifVersion string) (storage.Attributes, error) {
	st, err := d.Stat(ctx, key)
	if err != nil {
		return storage.Attributes{}, err
	}
	if st.Size < offset {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "append", key, nil)
	}
	return d.Driver.Append(ctx, key, st.Size, r, ifVersion)
}

// unversionedAppender ignores the version an Append names.
type unversionedAppender struct{ *memory.Driver }

func (d *unversionedAppender) Append(ctx context.Context, key string, offset int64, r io.Reader, _ string) (storage.Attributes, error) {
	return d.Driver.Append(ctx, key, offset, r, "")
}

// copyingMover "moves" by copying, and forgets to remove the source.
type copyingMover struct{ *memory.Driver }

func (d *copyingMover) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	rc, _, err := d.Get(ctx, src, 0, -1)
	if err != nil {
		return storage.Attributes{}, err
	}
	defer rc.Close()
	return d.Put(ctx, dst, rc, storage.PutOptions{Condition: storage.Condition{IfNotExists: true}, Size: -1})
}

// replacingMover renames over an existing target, as a plain rename(2) would.
type replacingMover struct{ *memory.Driver }

func (d *replacingMover) Move(ctx context.Context, src, dst string) (storage.Attributes, error) {
	if err := d.Delete(ctx, dst); err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Move(ctx, src, dst)
}

// inPlacePut writes the object as its bytes arrive, as a backend that opens the final
// file and writes into it would: readers see partial objects and a failed reader
// leaves one behind.
type inPlacePut struct{ storage.Driver }

func (d *inPlacePut) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	// The condition is checked properly, by the first (empty) write.
	a, err := d.Driver.Put(ctx, key, bytes.NewReader(nil), storage.PutOptions{Condition: o.Condition})
	if err != nil {
		return a, err
	}
	var so []byte
	written := 0
	buf := make([]byte, 4096)
	for {
		n, rerr := r.Read(buf)
		so = append(so, buf[:n]...)
		// Rewrite the object whenever it doubled (so that the emulation stays linear)
		// and when the reader ends or fails: readers see every partial state.
		if len(so) >= 2*written || rerr != nil {
			if a, err = d.Driver.Put(ctx, key, bytes.NewReader(so), storage.PutOptions{}); err != nil {
				return a, err
			}
			written = max(len(so), 1)
			runtime.Gosched()
		}
		if rerr == io.EOF {
			return a, nil
		}
		if rerr != nil {
			return storage.Attributes{}, rerr
		}
	}
}

// checkThenWrite tests a condition with Stat and then writes unconditionally: two
// racers can both pass the test before either writes.
type checkThenWrite struct{ storage.Driver }

func (d *checkThenWrite) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if !o.Condition.IsZero() {
		st, err := d.Driver.Stat(ctx, key)
		switch {
		case o.IfNotExists && err == nil,
			o.IfVersion != "" && (err != nil || st.Version != o.IfVersion):
			return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, nil)
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return storage.Attributes{}, err
		}
		time.Sleep(time.Millisecond) // the window real I/O would open
	}
	return d.Driver.Put(ctx, key, r, storage.PutOptions{Size: o.Size})
}

// reversedList yields the right entries in descending order.
type reversedList struct{ storage.Driver }

func (d *reversedList) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		var all []storage.Attributes
		for a, err := range d.Driver.List(ctx, prefix) {
			if err != nil {
				yield(a, err)
				return
			}
			all = append(all, a)
		}
		slices.Reverse(all)
		for _, a := range all {
			if !yield(a, nil) {
				return
			}
		}
	}
}

// rangeOffByOne treats the end of a range as inclusive.
type rangeOffByOne struct{ storage.Driver }

func (d *rangeOffByOne) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	if length >= 0 {
		length++
	}
	return d.Driver.Get(ctx, key, offset, length)
}

// plainNotFound reports a missing key with an unclassified error.
type plainNotFound struct{ storage.Driver }

func plain(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return errors.New("no such key")
	}
	return err
}

func (d *plainNotFound) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, offset, length)
	return rc, a, plain(err)
}

func (d *plainNotFound) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	a, err := d.Driver.Stat(ctx, key)
	return a, plain(err)
}

// strictDelete refuses to delete a missing key.
type strictDelete struct{ storage.Driver }

func (d *strictDelete) Delete(ctx context.Context, key string) error {
	if _, err := d.Driver.Stat(ctx, key); err != nil {
		return err
	}
	return d.Driver.Delete(ctx, key)
}

// ignoresVersion treats "replace if version matches" as "replace if it exists".
type ignoresVersion struct{ storage.Driver }

func (d *ignoresVersion) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if o.IfVersion == "" {
		return d.Driver.Put(ctx, key, r, o)
	}
	if _, err := d.Driver.Stat(ctx, key); err != nil {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, err)
	}
	return d.Driver.Put(ctx, key, r, storage.PutOptions{Size: o.Size})
}

// hashVersion derives versions from the content (an MD5 ETag, say): rewriting the
// same bytes keeps the version, so a stale writer wins.
type hashVersion struct {
	storage.Driver
	mu sync.Mutex // makes the conditional put atomic; only the versions are wrong
}

func (d *hashVersion) hashOf(ctx context.Context, key string) (string, error) {
	rc, _, err := d.Driver.Get(ctx, key, 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (d *hashVersion) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return storage.Attributes{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if o.IfVersion != "" {
		if v, err := d.hashOf(ctx, key); err != nil || v != o.IfVersion {
			return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, nil)
		}
	}
	a, err := d.Driver.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{Condition: storage.Condition{IfNotExists: o.IfNotExists}, Size: o.Size})
	if err != nil {
		return a, err
	}
	sum := sha256.Sum256(data)
	a.Version = hex.EncodeToString(sum[:])
	return a, nil
}

func (d *hashVersion) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	a, err := d.Driver.Stat(ctx, key)
	if err == nil {
		a.Version, err = d.hashOf(ctx, key)
	}
	return a, err
}

func (d *hashVersion) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	a, err := d.Stat(ctx, key)
	if err != nil {
		return nil, a, err
	}
	rc, _, err := d.Driver.Get(ctx, key, offset, length)
	return rc, a, err
}

func (d *hashVersion) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		for a, err := range d.Driver.List(ctx, prefix) {
			a.Version = ""
			if !yield(a, err) {
				return
			}
		}
	}
}

// noCancel detaches every operation from its context once it has started.
type noCancel struct{ storage.Driver }

func (d *noCancel) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	return d.Driver.Get(context.WithoutCancel(ctx), key, offset, length)
}

func (d *noCancel) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return d.Driver.List(context.WithoutCancel(ctx), prefix)
}

func (d *noCancel) Stat(ctx context.Context, key string) (storage.Attributes, error) {
	return d.Driver.Stat(context.WithoutCancel(ctx), key)
}

func (d *noCancel) Delete(ctx context.Context, key string) error {
	return d.Driver.Delete(context.WithoutCancel(ctx), key)
}

// leaksTemp stages a put under a visible temporary key and leaves it behind when the
// put fails (its reader failed, or its context ended while staging), as a disk
// backend whose temp files are listed would.
type leaksTemp struct{ storage.Driver }

func (d *leaksTemp) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	data, err := io.ReadAll(watching{ctx, r})
	if err != nil {
		// The staged bytes stay behind under a temporary name.
		_, _ = d.Driver.Put(context.WithoutCancel(ctx), key+"-tmp", bytes.NewReader(data), storage.PutOptions{})
		return storage.Attributes{}, err
	}
	return d.Driver.Put(ctx, key, bytes.NewReader(data), o)
}

// watching is a reader that stops once its context is done, as a driver's copy loop
// that checks its context between reads does.
type watching struct {
	ctx context.Context
	r   io.Reader
}

func (w watching) Read(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.r.Read(p)
}

// trustsSize stores exactly as many bytes as the size hint announced, as a backend
// that sends the hint as Content-Length would.
type trustsSize struct{ storage.Driver }

func (d *trustsSize) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if o.Size >= 0 {
		r = io.LimitReader(r, o.Size)
	}
	return d.Driver.Put(ctx, key, r, o)
}

// fileTree refuses, like a folder tree, a key that would be both an object and a
// parent, but does not declare Capabilities.FileTree, so callers cannot know.
type fileTree struct{ storage.Driver }

func (d *fileTree) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		if _, err := d.Driver.Stat(ctx, key[:i]); err == nil {
			return storage.Attributes{}, storage.NewError(storage.ErrInvalidArgument, "put", key, errors.New("a parent is an object"))
		}
	}
	for range d.Driver.List(ctx, key+"/") {
		return storage.Attributes{}, storage.NewError(storage.ErrInvalidArgument, "put", key, errors.New("it is a parent"))
	}
	return d.Driver.Put(ctx, key, r, o)
}
