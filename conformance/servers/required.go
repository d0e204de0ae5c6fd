// Package servers holds what the real test servers (MinIO, Samba) share: the rule that
// decides whether a server that cannot start skips the tests or fails them, and whether
// a server named by the environment may stand in for one the tests start themselves.
//
// It must not know the storage contract or any backend.
package servers

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// Required reports whether the named backend ("s3", "smb") must run: in CI (CI=true)
// every backend is required, and LECTERN_REQUIRE (a comma-separated list, or "all")
// makes it required anywhere.
func Required(backend string) bool {
	if os.Getenv("CI") == "true" {
		return true
	}
	req := strings.Split(os.Getenv("LECTERN_REQUIRE"), ",")
	return slices.Contains(req, "all") || slices.Contains(req, backend)
}

// Unavailable ends a test whose server cannot be had: it fails when the backend is
// required and skips otherwise, with how to enable it in both cases.
func Unavailable(t testing.TB, backend, reason, howToEnable string) {
	t.Helper()
	if Required(backend) {
		t.Fatalf("%s test server is required here (CI or LECTERN_REQUIRE) but unavailable: %s. %s", backend, reason, howToEnable)
	}
	t.Skipf("%s test server unavailable: %s. To run these tests: %s", backend, reason, howToEnable)
}

// ErrNotOurs marks a server from the environment refused where its backend is
// required (see FromEnvironment).
var ErrNotOurs = errors.New("the test server named by the environment is not the tests' own")

// FromEnvironment decides whether a server named by the environment variable variable
// may serve the tests of backend. Such a server is not the tests' own: they cannot stop
// and start it (the outage tests) nor reach its files (the disk-full tests), so those
// tests would skip. Where the backend is required every test must run, so there it is
// refused with an error matching ErrNotOurs, which ends every test of the backend
// through Unavailable (a failure) instead of letting some of them skip.
func FromEnvironment(backend, variable string) error {
	if !Required(backend) {
		return nil
	}
	return fmt.Errorf("%w: %s names a server the tests cannot stop, start or reach the files of, "+
		"so the outage tests could not run, and %s is required here (CI=true or LECTERN_REQUIRE), "+
		"where every test must run: unset %s so that the tests start their own server",
		ErrNotOurs, variable, backend, variable)
}
