package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/storage"
)

// Deliberately broken drivers over a folder, for the promises only storage outside
// the test's memory can break: atomicity across processes, and what a file tree leaves
// behind. Each wraps the disk backend as a plain storage.Driver (its Move, Append,
// Compose and RemoveLeftovers hidden, so those groups skip) and breaks one promise.
// TestBrokenHelper gives them a folder, and its path as the location the suite's
// child processes open.

// brokenTreeDrivers maps a name to a constructor over a folder.
var brokenTreeDrivers = map[string]func(dir string) (storage.Driver, error){
	// tree_correct is the control: the plain disk driver, which must pass.
	"tree_correct": func(dir string) (storage.Driver, error) { return openTree(dir) },
	"process_local_conditional": func(dir string) (storage.Driver, error) {
		d, err := openTree(dir)
		return &processLocal{Driver: d, mu: processLock(dir)}, err
	},
	"list_shows_temp_files": func(dir string) (storage.Driver, error) {
		d, err := openTree(dir)
		return &listsTemps{Driver: d, root: dir}, err
	},
	"buffer_put": func(dir string) (storage.Driver, error) {
		d, err := openTree(dir)
		return &bufferPut{d}, err
	},
	"buffer_get": func(dir string) (storage.Driver, error) {
		d, err := openTree(dir)
		return &bufferGet{d}, err
	},
	"delete_leaves_folders": func(dir string) (storage.Driver, error) {
		d, err := openTree(dir)
		return &keepsFolders{Driver: d, root: dir}, err
	},
}

// keepsFolders leaves the folders of a deleted key behind, as a delete that unlinks
// the file and prunes nothing does: a key named like one of them can no longer be put.
type keepsFolders struct {
	storage.Driver
	root string
}

func (d *keepsFolders) Delete(ctx context.Context, key string) error {
	if err := d.Driver.Delete(ctx, key); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Dir(filepath.Join(d.root, filepath.FromSlash(key))), 0o755)
}

// tree is the disk driver without its optional interfaces.
type tree struct{ storage.Driver }

func openTree(dir string) (*tree, error) {
	d, err := disk.New(dir)
	if err != nil {
		return nil, err
	}
	return &tree{d}, nil
}

var (
	processLocksMu sync.Mutex
	processLocks   = map[string]*sync.Mutex{}
)

// processLock is the one mutex of this process for the folder dir.
func processLock(dir string) *sync.Mutex {
	processLocksMu.Lock()
	defer processLocksMu.Unlock()
	if processLocks[dir] == nil {
		processLocks[dir] = &sync.Mutex{}
	}
	return processLocks[dir]
}

// processLocal checks a conditional put's condition and then writes, both under a
// mutex shared by every instance over the folder in this process: atomic for all of
// them, and for none in another process, which checks and writes between this one's
// check and write.
type processLocal struct {
	storage.Driver
	mu *sync.Mutex
}

func (d *processLocal) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	if o.Condition.IsZero() {
		return d.Driver.Put(ctx, key, r, o)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := d.Driver.Stat(ctx, key)
	exists := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Attributes{}, err
	}
	if (o.IfNotExists && exists) || (o.IfVersion != "" && (!exists || cur.Version != o.IfVersion)) {
		return storage.Attributes{}, storage.NewError(storage.ErrPrecondition, "put", key, errors.New("the condition does not hold"))
	}
	o.Condition = storage.Condition{}
	return d.Driver.Put(ctx, key, r, o)
}

// listsTemps lists the temporary files of puts in flight beside the objects, as a
// listing that only skips folders would (the disk backend names them .tmp-*).
type listsTemps struct {
	storage.Driver
	root string
}

func (d *listsTemps) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		var all []storage.Attributes
		for a, err := range d.Driver.List(ctx, prefix) {
			if err != nil {
				yield(a, err)
				return
			}
			all = append(all, a)
		}
		err := filepath.WalkDir(d.root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasPrefix(de.Name(), ".tmp-") {
				return err
			}
			rel, err := filepath.Rel(d.root, p)
			if key := filepath.ToSlash(rel); err == nil && strings.HasPrefix(key, prefix) {
				all = append(all, storage.Attributes{Key: key})
			}
			return err
		})
		if err != nil {
			yield(storage.Attributes{}, storage.NewError(storage.ErrUnavailable, "list", prefix, err))
			return
		}
		slices.SortFunc(all, func(a, b storage.Attributes) int { return strings.Compare(a.Key, b.Key) })
		for _, a := range all {
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

// bufferPut reads the whole body before it writes, as a driver computing a hash or a
// length up front would: correct, but an object held in memory.
type bufferPut struct{ storage.Driver }

func (d *bufferPut) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (storage.Attributes, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return storage.Attributes{}, err
	}
	return d.Driver.Put(ctx, key, bytes.NewReader(data), o)
}

// bufferGet reads the whole object and slices the range out of it, as os.ReadFile
// and a slice would.
type bufferGet struct{ storage.Driver }

func (d *bufferGet) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Attributes, error) {
	rc, a, err := d.Driver.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, a, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, a, err
	}
	if offset > int64(len(data)) {
		return nil, storage.Attributes{}, storage.NewError(storage.ErrInvalidRange, "get", key, errors.New("offset past the end"))
	}
	end := int64(len(data))
	if length >= 0 {
		end = min(end, offset+length)
	}
	return io.NopCloser(watching{ctx, bytes.NewReader(data[offset:end])}), a, nil
}
