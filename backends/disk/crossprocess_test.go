package disk_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// crossProcessCheck is the suite's check that races child processes on one folder.
const crossProcessCheck = "/instances/conditional_puts_across_processes"

// TestCrossProcessLeavesNoTempFiles runs the suite's cross-process check alone (it
// runs in TestConformance too) and then looks into the folder, which the suite
// cannot: after three processes raced on create-only, replace-if-version and counter
// puts of the same keys, the puts that lost, in whichever process, left no temporary
// file behind.
func TestCrossProcessLeavesNoTempFiles(t *testing.T) {
	var raced atomic.Int32
	conformance.Run(t, conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			if !strings.HasSuffix(t.Name(), crossProcessCheck) {
				t.Skip("TestConformance runs this check")
			}
			dir := t.TempDir()
			return func(t testing.TB) storage.Driver { return openDisk(t, dir) }
		},
		NewLocation: func(t testing.TB) string {
			dir := t.TempDir()
			// Registered before the check's drivers, so this runs after they are
			// closed, and after the children have ended.
			t.Cleanup(func() {
				raced.Add(1)
				if left := dotFiles(t, dir); len(left) > 0 {
					t.Errorf("temporary files left after the processes raced: %q", left)
				}
			})
			return dir
		},
		OpenLocation: openDisk,
	})
	if !conformance.ChildProcess() && !t.Failed() && raced.Load() != 1 {
		t.Fatalf("the suite's check %s did not run here (%d runs): was it renamed?", crossProcessCheck[1:], raced.Load())
	}
}
