package s3_test

import (
	"testing"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// TestConformance runs the shared storage suite on a real MinIO server: a fresh
// bucket for every check, new driver instances over it, the 1 GiB object (outside
// -short) and the server outage checks when the server is ours to stop.
func TestConformance(t *testing.T) {
	conformance.Run(t, harness(t))
}

// harness gives every check a fresh bucket on the test MinIO server; the engine and
// persistence suites use it too.
func harness(t *testing.T) conformance.Harness {
	srv := newFixture(t).srv // skips, or fails in CI, when there is no server
	h := conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			f := &fixture{srv: srv, bucket: srv.NewBucket(t)}
			return func(t testing.TB) storage.Driver { return f.driver(t) }
		},
		Large: true,
	}
	if srv.Restartable() {
		h.Server = srv
	}
	return h
}
