package disk_test

import (
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/core/conference/conferencetest"
)

// BenchmarkRemoveLeftovers measures what the hourly retention sweep's look for
// leftovers of dead writes costs on a disk store shaped like 1,000 conferences (39,000
// files in 5,000 folders, nothing to remove), against a plain filepath.WalkDir of the
// same tree, alternating in each iteration; docs/benchmarks-disk.md has the numbers.
func BenchmarkRemoveLeftovers(b *testing.B) {
	root := b.TempDir()
	files := conferencetest.StoreTree(b, root, 1000)
	d, err := disk.New(root)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	raw := func() time.Duration {
		t0 := time.Now()
		if err := filepath.WalkDir(root, func(string, fs.DirEntry, error) error { return nil }); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	conferencetest.BenchRemoveLeftovers(b, d, files, "walkdir-ms", raw)
}
