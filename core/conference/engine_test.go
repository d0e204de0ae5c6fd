package conference_test

import (
	"testing"

	"github.com/lectern/lectern/backends/disk"
	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/conference/conferencetest"
	"github.com/lectern/lectern/core/storage"
)

func TestEngineOnMemory(t *testing.T) {
	conferencetest.Run(t, conformance.Harness{NewStorage: func(t testing.TB) conformance.Opener {
		store := memory.NewStore()
		return func(t testing.TB) storage.Driver { return memory.New(store) }
	}})
}

func TestEngineOnDisk(t *testing.T) {
	conferencetest.Run(t, conformance.Harness{NewStorage: func(t testing.TB) conformance.Opener {
		dir := t.TempDir()
		return func(t testing.TB) storage.Driver {
			d, err := disk.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
	}})
}
