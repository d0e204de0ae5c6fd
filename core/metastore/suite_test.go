package metastore_test

import (
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/metastore/metastoretest"
	"github.com/lectern/lectern/core/storage"
)

func memoryHarness() conformance.Harness {
	return conformance.Harness{NewStorage: func(t testing.TB) conformance.Opener {
		store := memory.NewStore()
		return func(t testing.TB) storage.Driver {
			d := memory.New(store)
			t.Cleanup(func() { d.Close() })
			return d
		}
	}}
}

func diskHarness() conformance.Harness {
	return conformance.Harness{NewStorage: func(t testing.TB) conformance.Opener {
		root := t.TempDir()
		return func(t testing.TB) storage.Driver {
			d, err := disk.New(root)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
	}}
}

func TestPersistenceMemory(t *testing.T) { metastoretest.Run(t, memoryHarness()) }

func TestPersistenceDisk(t *testing.T) { metastoretest.Run(t, diskHarness()) }
