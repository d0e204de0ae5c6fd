package disk_test

import (
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// TestConformance runs the shared storage suite on the disk backend. Every instance an
// Opener makes is a separate driver over the same folder, as two servers sharing it;
// the folder's path locates it for the suite's child processes.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			dir := t.TempDir()
			return func(t testing.TB) storage.Driver { return openDisk(t, dir) }
		},
		NewLocation:  func(t testing.TB) string { return t.TempDir() },
		OpenLocation: openDisk,
		Large:        true,
	})
}

func openDisk(t testing.TB, dir string) storage.Driver {
	d, err := disk.New(dir)
	if err != nil {
		t.Fatalf("disk.New(%q): %v", dir, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
