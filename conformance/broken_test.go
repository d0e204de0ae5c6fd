package conformance_test

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lectern/lectern/backends/memory"
	"github.com/lectern/lectern/conformance"
	"github.com/lectern/lectern/core/storage"
)

// brokenEnv names the broken driver TestBrokenHelper runs the suite on.
const brokenEnv = "LECTERN_CONFORMANCE_BROKEN"

// TestBrokenHelper is not a test of its own: TestSuiteCatchesBrokenBackends runs this
// test binary again with brokenEnv set, so that the suite's failures on a broken
// driver are observed from outside instead of failing this run.
func TestBrokenHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("run by TestSuiteCatchesBrokenBackends only")
	}
	if newTree, ok := brokenTreeDrivers[name]; ok {
		open := func(t testing.TB, dir string) storage.Driver {
			d, err := newTree(dir)
			if err != nil {
				t.Fatalf("opening %q over %s: %v", name, dir, err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
		conformance.Run(t, conformance.Harness{
			NewStorage: func(t testing.TB) conformance.Opener {
				dir := t.TempDir()
				return func(t testing.TB) storage.Driver { return open(t, dir) }
			},
			NewLocation:  func(t testing.TB) string { return t.TempDir() },
			OpenLocation: open,
		})
		return
	}
	newDriver, ok := brokenDrivers[name]
	if !ok {
		t.Fatalf("no broken driver %q", name)
	}
	h := conformance.Harness{
		NewStorage: func(t testing.TB) conformance.Opener {
			store := memory.NewStore()
			return func(t testing.TB) storage.Driver {
				d := newDriver(store)
				t.Cleanup(func() { d.Close() })
				return d
			}
		},
	}
	if strings.HasPrefix(name, "outage_") {
		h.Server = outageSwitch{}
	}
	conformance.Run(t, h)
}

// TestSuiteCatchesBrokenBackends runs the suite on each broken driver in a child
// process and asserts that it fails, naming the checks that must catch the breakage;
// the unbroken control must pass, so that the failures are the breakage's doing.
func TestSuiteCatchesBrokenBackends(t *testing.T) {
	tests := []struct {
		driver string
		caught []string // checks (group/check[/subtest]) that must fail; nil for the controls
	}{
		{"correct", nil},
		{"correct_without_conditional_replace", nil},
		{"non_atomic_put", []string{
			"put/reader_fails_midway_keeps_old",
			"put/reader_fails_midway_creates_nothing",
			"put/reader_fails_at_once_keeps_old",
			"cancellation/put_cancelled_midway_keeps_old",
			"cancellation/put_cancelled_midway_creates_nothing",
			"list/no_hidden_entries_after_failed_puts",
			"concurrency/64_readers_and_writers_see_whole_versions",
		}},
		{"unlocked_conditional", []string{
			"conditional/create_race_one_winner",
			"conditional/create_race_across_instances",
			"conditional/replace_race_one_winner",
			"conditional/replace_race_across_instances",
		}},
		{"unordered_list", []string{
			"list/byte_order",
			"list/2048_keys_in_order",
			"list/empty_prefix_lists_all",
			"list/prefix_a_vs_ab",
		}},
		{"range_off_by_one", []string{
			"get/range_table",
			"get/range_middle",
			"get/range_start",
			"get/range_zero_length",
			"get/range_first_byte",
			"get/body_is_an_ordinary_reader",
			"get/many_open_bodies",
		}},
		{"unclassified_not_found", []string{
			"get/missing_key_not_found",
			"stat/missing_key_not_found",
			"delete/removes_object",
			"conditional/replace_missing_key_fails",
		}},
		{"delete_missing_errors", []string{
			"delete/missing_key_succeeds",
			"delete/twice_succeeds",
			"delete/key_that_is_a_prefix",
		}},
		{"stale_version_accepted", []string{
			"conditional/replace_stale_version_fails",
			"conditional/replace_made_up_version_fails",
			"instances/stale_version_across_instances",
		}},
		{"content_hash_version", []string{
			"conditional/version_changes_on_every_put",
		}},
		{"ignores_cancellation", []string{
			"cancellation/get_cancelled_before_start",
			"cancellation/get_body_stops_after_cancel",
			"cancellation/stat_cancelled",
			"cancellation/delete_cancelled_keeps_object",
			"cancellation/deadline_exceeded",
			"cancellation/list_cancelled_before_start",
			"cancellation/list_cancelled_midway_stops",
		}},
		{"trusts_size_hint", []string{
			"put/size_hint_too_small",
		}},
		{"undeclared_file_tree", []string{
			"keys/key_and_prefix_of_key",
			"list/prefix_a_vs_ab",
			"list/byte_order",
		}},
		{"move_keeps_source", []string{
			"move/moves_bytes_and_removes_source",
			"move/into_new_folder_and_out_of_last_one",
			"move/racing_moves_of_one_source",
		}},
		{"move_replaces_target", []string{
			"move/existing_destination_is_precondition",
			"move/racing_moves_to_one_destination",
		}},
		{"append_at_end", []string{
			"append/cuts_at_offset",
			"append/failed_reader_keeps_prefix",
		}},
		{"append_any_version", []string{
			"append/wrong_version_is_precondition",
			"append/racing_appends_one_version",
			"append/other_instance_old_version_refused",
		}},
		{"compose_replaces_target", []string{
			"compose/existing_destination_is_precondition",
			"compose/racing_composes_one_destination",
		}},
		{"leftovers_take_old_objects", []string{
			"leftovers/stored_objects_untouched",
		}},
		{"visible_temp_files", []string{
			"put/reader_fails_midway_creates_nothing",
			"cancellation/put_cancelled_midway_creates_nothing",
			"list/no_hidden_entries_after_failed_puts",
		}},
		{"crashing_stat", []string{
			"stat/fields",
			"stat/missing_key_not_found",
			"delete/removes_object",
			"instances/second_sees_overwrite",
		}},
		{"no_modtime", []string{
			"stat/fields",
			"list/modtime_agrees_with_stat",
		}},
		{"list_zero_modtime", []string{
			"list/modtime_agrees_with_stat",
		}},
		{"put_deaf_midway", []string{
			"cancellation/put_cancelled_midway_keeps_old",
			"cancellation/put_cancelled_midway_creates_nothing",
			"list/no_hidden_entries_after_failed_puts",
		}},
		{"append_deaf_midway", []string{
			"append/cancelled_keeps_prefix",
		}},
		{"version_reused_after_delete", []string{
			"conditional/version_not_reused_after_delete",
		}},
		{"tree_correct", nil},
		{"process_local_conditional", []string{
			"instances/conditional_puts_across_processes",
		}},
		{"list_shows_temp_files", []string{
			"concurrency/list_while_writing",
		}},
		{"tree_correct_large", nil},
		{"buffer_put", []string{
			"large/64MiB_object_through_small_reads",
			"large/64MiB_object_through_small_reads/put_streams",
		}},
		{"buffer_get", []string{
			"large/64MiB_object_through_small_reads",
			"large/64MiB_object_through_small_reads/hash_of_whole_read",
		}},
		{"delete_leaves_folders", []string{
			"delete/leaves_nothing_in_the_way",
		}},
		{"outage_control", nil},
		{"outage_writes_anyway", []string{
			"faults/server_outage",
			"faults/server_outage/data_survives",
		}},
	}
	if os.Getenv(brokenEnv) != "" {
		t.Skip("inside a child run")
	}
	for _, tt := range tests {
		t.Run(tt.driver, func(t *testing.T) {
			t.Parallel()
			failed, out, err := runChild(t, tt.driver)
			// A check that fails must fail by itself, not abort the run or its group
			// (a subtest that fails its parent shows as "panic(nil) or runtime.Goexit").
			if strings.Contains(out, "panic:") || strings.Contains(out, "panic(") {
				t.Errorf("the suite panicked on %q:\n%s", tt.driver, tail(out))
			}
			if tt.caught == nil {
				if err != nil || len(failed) > 0 {
					t.Fatalf("the suite fails the correct control driver (%v): %q\n%s", err, failed, tail(out))
				}
				return
			}
			for _, line := range strings.Split(out, "\n") {
				if len(line) > maxLine {
					t.Errorf("a line of %d bytes in the suite's output on %q, starting %.120q", len(line), tt.driver, line)
				}
			}
			if want, ok := says[tt.driver]; ok && !strings.Contains(out, want) {
				t.Errorf("the suite's output on %q does not say %q:\n%s", tt.driver, want, tail(out))
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed the broken driver %q (run error %v)\n%s", tt.driver, err, tail(out))
			}
			for _, c := range tt.caught {
				if !slices.Contains(failed, c) {
					t.Errorf("check %s did not catch %q; the failed checks were %q", c, tt.driver, failed)
				}
			}
			t.Logf("%q is caught by %d checks: %q", tt.driver, len(failed), failed)
		})
	}
}

// maxLine bounds the lines of the suite's output: a failure message tells where and
// how much, it does not quote objects.
const maxLine = 1000

// says holds what the failures on a driver must say, beside failing.
var says = map[string]string{
	"range_off_by_one": "got 50001 bytes, want 50000; the first 50000 agree",
	"no_modtime":       "ModTime is missing",
	"crashing_stat":    "the check panicked: runtime error: invalid memory address or nil pointer dereference",
}

// largeOnly names the drivers whose breakage only objects of 64 MiB and more show:
// the suite runs only its large group on them, outside -short. x_large is driver x.
var largeOnly = map[string]bool{"buffer_put": true, "buffer_get": true, "tree_correct_large": true}

var failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: TestBrokenHelper/([^/\s]+/[^\s]+) \(`)

// runChild runs the suite on the named driver in a child process and returns the
// group/check names (and group/check/subtest names) that failed there.
func runChild(t *testing.T, driver string) ([]string, string, error) {
	t.Helper()
	args := []string{"-test.run=^TestBrokenHelper$", "-test.short", "-test.v", "-test.count=1", "-test.timeout=5m"}
	if largeOnly[driver] {
		args[0], args[1] = "-test.run=^TestBrokenHelper$/^large$", "-test.short=false"
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), brokenEnv+"="+strings.TrimSuffix(driver, "_large"))
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	var failed []string
	for _, m := range failLine.FindAllStringSubmatch(out, -1) {
		failed = append(failed, m[1])
	}
	slices.Sort(failed)
	return slices.Compact(failed), out, err
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}
