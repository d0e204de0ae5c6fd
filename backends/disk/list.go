//go:build unix

package disk

import (
	"context"
	"errors"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/lectern/lectern/core/storage"
)

// List implements storage.Driver.
//
// Walking directories in name order is not byte order of the full keys: with the
// keys "a/b" and "a-c", the directory "a" sorts before the file "a-c" by name, yet
// "a-c" < "a/b" because '-' (0x2d) < '/' (0x2f). So within a directory the entries are
// sorted by name with a slash appended to directory names: every key below directory
// "a" starts with "a/", no other entry's key does, so the block of keys below "a"
// takes exactly the place of "a/" among its siblings, and a depth-first walk in this
// order yields the keys in byte order without collecting them all.
func (d *Driver) List(ctx context.Context, prefix string) iter.Seq2[storage.Attributes, error] {
	return func(yield func(storage.Attributes, error) bool) {
		if err := d.checkOpen("list", prefix); err != nil {
			yield(storage.Attributes{}, err)
			return
		}
		// Start in the deepest directory the prefix names: "a/b/c" -> "a/b/".
		start := prefix[:strings.LastIndex(prefix, "/")+1]
		d.walk(ctx, start, prefix, yield)
	}
}

type listEntry struct {
	name  string // the key of the entry relative to its directory; directories end in "/"
	isDir bool
}

// walk yields the objects under the directory dirKey ("" or ending in "/") whose keys
// start with prefix. It returns false once the listing must stop.
func (d *Driver) walk(ctx context.Context, dirKey, prefix string, yield func(storage.Attributes, error) bool) bool {
	if err := ctx.Err(); err != nil {
		yield(storage.Attributes{}, classify("list", prefix, err))
		return false
	}
	dirents, err := os.ReadDir(d.path(dirKey))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return true // no such directory (or pruned during the walk): nothing below it
		}
		yield(storage.Attributes{}, classify("list", prefix, err))
		return false
	}
	entries := make([]listEntry, 0, len(dirents))
	for _, de := range dirents {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue // temporary files, the lock folder, nothing a key can name
		}
		switch {
		case de.IsDir():
			entries = append(entries, listEntry{name + "/", true})
		case de.Type().IsRegular():
			entries = append(entries, listEntry{name, false})
		}
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.name, b.name) })

	for _, e := range entries {
		key := dirKey + e.name
		if e.isDir {
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			if !d.walk(ctx, key, prefix, yield) {
				return false
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if err := ctx.Err(); err != nil {
			yield(storage.Attributes{}, classify("list", prefix, err))
			return false
		}
		f, attrs, err := d.open("list", key, filepath.Join(d.path(dirKey), e.name))
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted since the directory was read
		}
		if err != nil {
			yield(storage.Attributes{}, err)
			return false
		}
		f.Close()
		if !yield(attrs, nil) {
			return false
		}
	}
	return true
}
