package smb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

// TestRemoveLeftoversOnTheShare: what dead changes left on a real Samba share (a
// put's temporary file, a key lock, an append claim; written straight into the
// share's folder, aged with Chtimes) goes, in folders that keep their keys too;
// younger ones and every key stay; a folder that only leftovers kept goes with them.
func TestRemoveLeftoversOnTheShare(t *testing.T) {
	_, bk, ctx, orphan := orphanBeside(t, ".tmp-00112233445566778899aabb", []byte("half a part"))
	dir := filepath.Dir(orphan) // the share's folder of dir/k
	if _, err := bk.PutBytes(ctx, "dir/sub/k2", []byte("v2"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	old, young := time.Now().Add(-2*time.Hour), time.Now()
	files := []struct {
		path string
		when time.Time
		gone bool
	}{
		{orphan, old, true},
		{filepath.Join(dir, ".k.lock"), old, true},
		{filepath.Join(dir, ".k.append"), old, true},
		{filepath.Join(dir, "sub", ".k2.lock"), old, true},
		{filepath.Join(dir, ".tmp-ffeeddccbbaa998877665544"), young, false},
		{filepath.Join(dir, "only-leftovers", ".tmp-0123456789abcdef01234567"), old, true},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, []byte("left"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f.path, f.when, f.when); err != nil {
			t.Fatal(err)
		}
	}
	// Folders a change that died made and never filled: the old one goes with its
	// parents, which only it kept; a young one stays (a put may be about to fill it).
	deadFolder, youngFolder := filepath.Join(dir, "dead", "put", "folder"), filepath.Join(dir, "young-empty")
	for _, f := range []struct {
		path string
		when time.Time
	}{{deadFolder, old}, {youngFolder, young}} {
		if err := os.MkdirAll(f.path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f.path, f.when, f.when); err != nil {
			t.Fatal(err)
		}
	}

	n, ok, err := bk.RemoveLeftovers(ctx, time.Now().Add(-time.Hour))
	if err != nil || !ok || n != 5 {
		t.Fatalf("RemoveLeftovers = %d, %v, %v; want the 5 old ones", n, ok, err)
	}
	for _, f := range files {
		_, err := os.Stat(f.path)
		if gone := errors.Is(err, fs.ErrNotExist); gone != f.gone {
			t.Errorf("%s gone: %v (%v), want %v", f.path, gone, err, f.gone)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "only-leftovers")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the folder only leftovers kept is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dead")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old empty folders are still there: %v", err)
	}
	if _, err := os.Stat(youngFolder); err != nil {
		t.Errorf("the young empty folder went: %v", err)
	}
	var keys []string
	for a, err := range bk.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	if !slices.Equal(keys, []string{"dir/k", "dir/sub/k2"}) {
		t.Fatalf("keys after RemoveLeftovers: %q", keys)
	}
	if _, err := bk.PutBytes(ctx, "dir/k", []byte("v3"), storage.Condition{}); err != nil {
		t.Fatalf("a put after its lock was removed: %v", err)
	}
}
