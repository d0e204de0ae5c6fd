package disk_test

import (
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// TestConformance runs the shared storage suite on the disk backend. Every instance an
// Opener makes is a separate driver over the same folder, as two servers sharing it.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			dir := t.TempDir()
			return func(t testing.TB) storage.Driver {
				d, err := disk.New(dir)
				if err != nil {
					t.Fatalf("disk.New(%q): %v", dir, err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			}
		},
		Large: true,
	})
}
