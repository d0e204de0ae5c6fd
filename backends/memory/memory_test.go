package memory_test

import (
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// harness gives every check a fresh Store; the drivers an Opener makes share it, as
// instances of a real backend share a folder or a bucket.
func harness() conformance.Harness {
	return conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			store := memory.NewStore()
			return func(t testing.TB) storage.Driver {
				d := memory.New(store)
				t.Cleanup(func() { d.Close() })
				return d
			}
		},
		// Large stays off: the memory backend holds objects in memory by design.
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness())
}
