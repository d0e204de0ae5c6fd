package s3_test

import (
	"encoding/json"
	"testing"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/conformance/servers/minio"
	"github.com/lectern/lectern/core/storage"
)

// TestConformance runs the shared storage suite on a real MinIO server: a fresh
// bucket for every check, new driver instances over it, the 1 GiB object (outside
// -short) and the server outage checks when the server is ours to stop.
func TestConformance(t *testing.T) {
	conformance.Run(t, harness(t))
}

// harness gives every check a fresh bucket on the test MinIO server; the engine and
// persistence suites use it too. A bucket is located for the suite's child processes
// by the server's endpoint, region and test credentials with the bucket's name, so
// that they use the parent's server and start none of their own.
func harness(t *testing.T) conformance.Harness {
	if conformance.ChildProcess() {
		return conformance.Harness{OpenLocation: openLocation}
	}
	srv := newFixture(t).srv // skips, or fails in CI, when there is no server
	h := conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			f := &fixture{srv: srv, bucket: srv.NewBucket(t)}
			return func(t testing.TB) storage.Driver { return f.driver(t) }
		},
		NewLocation: func(t testing.TB) string {
			loc, err := json.Marshal(location{srv.Endpoint, srv.Region, srv.AccessKey, srv.SecretKey, srv.NewBucket(t)})
			if err != nil {
				t.Fatal(err)
			}
			return string(loc)
		},
		OpenLocation: openLocation,
		Large:        true,
	}
	if srv.Restartable() {
		h.Server = srv
	}
	return h
}

// location is a bucket on the test server, as a harness location (JSON).
type location struct {
	Endpoint, Region, AccessKey, SecretKey, Bucket string
}

func openLocation(t testing.TB, raw string) storage.Driver {
	var loc location
	if err := json.Unmarshal([]byte(raw), &loc); err != nil {
		t.Fatalf("a harness location that is not one: %v", err)
	}
	f := &fixture{srv: &minio.Server{Endpoint: loc.Endpoint, Region: loc.Region, AccessKey: loc.AccessKey, SecretKey: loc.SecretKey}, bucket: loc.Bucket}
	return f.driver(t)
}
