// Package servers holds what the real test servers (MinIO, Samba) share: the rule that
// decides whether a server that cannot start skips the tests or fails them.
//
// It must not know the storage contract or any backend.
package servers

import (
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
