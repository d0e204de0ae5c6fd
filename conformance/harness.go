// Package conformance is the storage suite every Lectern backend must pass, and that
// backend authors outside the project run on theirs: call Run from a test with a
// Harness that makes fresh storage. It checks the contract of package
// github.com/lectern/lectern/core/storage, asserting error categories with errors.Is,
// and skips checks by declared capability, never by backend name. RunPaired is the
// paired benchmark runner (a backend against its raw client, both in every
// iteration) that the project's benchmarks use and backend authors can measure with.
//
// It must not know any concrete backend: backends' own tests import it, not the other
// way round. The real servers the suite runs against (MinIO, Samba) are started by the
// packages under conformance/servers.
package conformance

import (
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// Opener makes a new driver instance over the storage it was made for. The instance is
// closed by the opener's own t.Cleanup; instances from one Opener share their data.
// The suite closes some instances itself, so that cleanup Close may be a second one:
// it must be harmless (nil or an error matching storage.ErrClosed).
type Opener func(t testing.TB) storage.Driver

// Harness tells the suite how to get storage for the backend under test.
type Harness struct {
	// NewStorage prepares fresh, empty storage private to the calling test (a new
	// folder, a new bucket or prefix) and returns an Opener for it. Required.
	NewStorage func(t testing.TB) Opener
	// Server, when not nil, lets the suite take the backend's server away and bring it
	// back, to check that failures are retryable and that a driver recovers.
	Server ServerControl
	// NewLocation and OpenLocation, when both set, let the suite open the same
	// storage from another process, to check that conditional puts are atomic across
	// processes and not only across the instances of one process (a lock held in a
	// process-global map passes every other check). NewLocation prepares fresh, empty
	// storage like NewStorage and returns a string that locates it (a folder path; a
	// bucket, with the endpoint if the server is not found by the environment);
	// OpenLocation opens a driver over the storage such a string locates, closed by
	// its own t.Cleanup. The suite runs the test binary again (the running executable, with
	// -test.run naming the test that called Run, and the environment of this process)
	// and, in that child process, Run calls only OpenLocation and races the parent
	// instead of running the suite: whatever the test does before calling Run runs
	// there too (a harness can ask ChildProcess and skip starting a server), and the
	// location must hold all the child needs. Without them the
	// check instances/conditional_puts_across_processes skips. They mean nothing for
	// storage held in the test's own memory.
	NewLocation  func(t testing.TB) string
	OpenLocation func(t testing.TB, location string) storage.Driver
	// Large enables checks with objects of 1 GiB and more (they are skipped otherwise,
	// and always under -short).
	Large bool
}

// ServerControl stops and starts the server behind a remote backend.
type ServerControl interface {
	Stop(t testing.TB)
	Start(t testing.TB)
}
