package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lectern/lectern/core/storage"
)

func listChecks() []check {
	return []check{
		{"empty_storage", func(t *testing.T, e *env) { e.wantKeys(e.b, "") }},
		{"empty_prefix_lists_all", listAllKeys},
		{"prefix_a_vs_ab", listPrefixSafety},
		{"prefix_ending_in_slash", listSlashPrefix},
		{"prefix_inside_segment", listPartialSegment},
		{"prefix_that_is_a_key", listPrefixIsKey},
		{"prefix_matching_nothing", listNoMatch},
		{"byte_order", listByteOrder},
		{"attributes", listAttributes},
		{"modtime_agrees_with_stat", listModTime},
		{"after_delete", listAfterDelete},
		{"stop_early", listStopEarly},
		{"2048_keys_in_order", listMany},
		{"no_hidden_entries_after_failed_puts", listNoLeftovers},
	}
}

func listAllKeys(t *testing.T, e *env) {
	for _, k := range []string{"z", "a/b/c", "m"} {
		e.put(k, []byte(k))
	}
	e.wantKeys(e.b, "", "a/b/c", "m", "z")
}

// listPrefixSafety: a prefix is a plain string prefix, not a folder: "a" matches "ab",
// "a/" does not, and "c/a/" does not match "c/ab".
func listPrefixSafety(t *testing.T, e *env) {
	keys := treeSafe(e, []string{"a", "ab", "a/x", "abc/y", "b", "c/a/x", "c/ab"}, "a/x")
	for _, k := range keys {
		e.put(k, []byte(k))
	}
	e.wantKeys(e.b, "a", treeSafe(e, []string{"a", "a/x", "ab", "abc/y"}, "a/x")...)
	e.wantKeys(e.b, "ab", "ab", "abc/y")
	e.wantKeys(e.b, "abc", "abc/y")
	e.wantKeys(e.b, "c/a/", "c/a/x")
	e.wantKeys(e.b, "c/a", "c/a/x", "c/ab")
}

func listSlashPrefix(t *testing.T, e *env) {
	for _, k := range treeSafe(e, []string{"dir/a", "dir/sub/b", "dir2/c", "dir-x", "dir"}, "dir") {
		e.put(k, []byte(k))
	}
	e.wantKeys(e.b, "dir/", "dir/a", "dir/sub/b")
	e.wantKeys(e.b, "dir/sub/", "dir/sub/b")
}

func listPartialSegment(t *testing.T, e *env) {
	for _, k := range []string{"logs/2024-01/a", "logs/2024-02/b", "logs/2025-01/c", "logs/x"} {
		e.put(k, []byte(k))
	}
	e.wantKeys(e.b, "logs/2024", "logs/2024-01/a", "logs/2024-02/b")
	e.wantKeys(e.b, "logs/2024-0", "logs/2024-01/a", "logs/2024-02/b")
}

func listPrefixIsKey(t *testing.T, e *env) {
	keys := treeSafe(e, []string{"k/v", "k/v2", "k/v-w", "k/v/w"}, "k/v/w")
	for _, k := range keys {
		e.put(k, []byte(k))
	}
	slices.Sort(keys)
	e.wantKeys(e.b, "k/v", keys...)
}

func listNoMatch(t *testing.T, e *env) {
	e.put("present/x", []byte("x"))
	e.wantKeys(e.b, "absent")
	e.wantKeys(e.b, "present/x/")
	e.wantKeys(e.b, "present/y")
}

// listByteOrder uses the punctuation that sorts around '/' (0x2f): '-' and '.' sort
// before it and '0', 'A', '_', 'a', '~' after it, so that a directory walk that lists
// "a/" as a unit before its siblings comes out in the wrong order.
func listByteOrder(t *testing.T, e *env) {
	keys := treeSafe(e, []string{"a~", "a_", "a/b", "a.b", "a-b", "a0", "aB", "ab", "a", "a/b/c", "a/-", "a/~", "A", "0", "~"}, "a", "a/b")
	if e.caps.CaseInsensitive {
		// "A" and "aB" name the same objects as "a" and "ab" there; the upper-case
		// ordering is checked on case-sensitive backends only.
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "A" || k == "aB" })
	}
	for _, k := range keys {
		e.put(k, []byte(k))
	}
	want := slices.Clone(keys)
	slices.Sort(want) // Go compares strings bytewise
	e.wantKeys(e.b, "", want...)
}

func listAttributes(t *testing.T, e *env) {
	sizes := map[string]int{"la/a": 0, "la/b": 1, "la/c": 12_345}
	versions := map[string]string{}
	for k, n := range sizes {
		versions[k] = e.put(k, payload(n, k)).Version
	}
	attrs, err := listAll(e.ctx, e.b, "la/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(attrs) != len(sizes) {
		t.Fatalf("List returned %d entries, want %d", len(attrs), len(sizes))
	}
	for _, a := range attrs {
		if a.Size != int64(sizes[a.Key]) {
			t.Errorf("List reports %q with size %d, want %d", a.Key, a.Size, sizes[a.Key])
		}
		if a.Version != "" && a.Version != versions[a.Key] {
			t.Errorf("List reports %q with version %q, want empty or %q", a.Key, a.Version, versions[a.Key])
		}
	}
}

// modTimeSlack is how far a listed ModTime may be from Stat's: some backends give one
// of them in whole seconds (S3 answers HEAD with an HTTP date, but lists
// milliseconds).
const modTimeSlack = time.Second

// listModTime: every listed entry carries the modification time Stat reports, for
// objects put, overwritten, appended to and moved. The engine's retention sweep ages
// unreferenced content and upload parts by the listed ModTime alone: a zero or wrong
// one there has it delete what was stored a moment earlier.
func listModTime(t *testing.T, e *env) {
	e.put("lm/put", payload(100, "put"))
	e.put("lm/overwritten", payload(10, "first"))
	e.put("lm/overwritten", payload(20, "second"))
	if e.b.CanAppend() {
		v := e.put("lm/appended", payload(30, "head")).Version
		if _, err := e.b.Append(e.ctx, "lm/appended", 30, bytes.NewReader(payload(40, "tail")), v); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if e.b.CanMove() {
		e.put("lm/source", payload(50, "moved"))
		if _, err := e.b.Move(e.ctx, "lm/source", "lm/target"); err != nil {
			t.Fatalf("Move: %v", err)
		}
	}
	attrs, err := listAll(e.ctx, e.b, "lm/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(attrs) == 0 {
		t.Fatal("List returned nothing")
	}
	for _, a := range attrs {
		st, err := e.b.Stat(e.ctx, a.Key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", a.Key, err)
		}
		// A sanity bound, as in stat/fields: a zero time means the field was not
		// filled in.
		listZero, statZero := a.ModTime.IsZero() || a.ModTime.Year() < 2000, st.ModTime.IsZero() || st.ModTime.Year() < 2000
		switch {
		case listZero && statZero:
			t.Errorf("List and Stat both report %q with ModTime %v: ModTime is missing (it must be the time of the put)", a.Key, a.ModTime)
			continue
		case statZero:
			t.Errorf("Stat reports %q with ModTime %v: ModTime is missing (it must be the time of the put, as List's %v)", a.Key, st.ModTime, a.ModTime)
			continue
		case listZero:
			t.Errorf("List reports %q with ModTime %v, want the time Stat reports (%v)", a.Key, a.ModTime, st.ModTime)
			continue
		}
		if d := a.ModTime.Sub(st.ModTime).Abs(); d > modTimeSlack {
			t.Errorf("List reports %q with ModTime %v, %v away from Stat's %v (at most %v allowed)", a.Key, a.ModTime, d, st.ModTime, modTimeSlack)
		}
	}
}

func listAfterDelete(t *testing.T, e *env) {
	for _, k := range []string{"x/1", "x/2", "x/3"} {
		e.put(k, []byte(k))
	}
	if err := e.b.Delete(e.ctx, "x/2"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.wantKeys(e.b, "x/", "x/1", "x/3")
}

// listStopEarly breaks out of a listing and then uses the bucket again: an iterator
// that holds a lock or a connection past the break would hang or fail here.
func listStopEarly(t *testing.T, e *env) {
	for i := range 20 {
		e.put(fmt.Sprintf("s/%02d", i), []byte("x"))
	}
	for range 3 {
		n := 0
		for _, err := range e.b.List(e.ctx, "s/") {
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if n++; n == 3 {
				break
			}
		}
	}
	e.put("s/after", []byte("y"))
	if got := e.keys(e.b, "s/"); len(got) != 21 {
		t.Fatalf("List after early breaks returned %d keys, want 21", len(got))
	}
}

// manyKeys is always 2048, -short or not: backends paginate at 1,000 (S3) and the
// check must cross page boundaries.
const manyKeys = 2048

// listMany writes 2,048 keys whose byte order differs from their numeric order (and
// some nested under others) with a bounded worker pool, and lists them back in order.
func listMany(t *testing.T, e *env) {
	keys := make([]string, 0, manyKeys)
	for i := range manyKeys {
		k := "many/" + strconv.Itoa(i)
		if i%16 == 0 {
			k += "/sub"
		}
		keys = append(keys, k)
	}
	if err := putAll(e.ctx, e.b, keys, 16); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	attrs, err := listAll(e.ctx, e.b, "many/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(attrs) != len(want) {
		t.Fatalf("List returned %d keys, want %d", len(attrs), len(want))
	}
	for i, a := range attrs {
		if a.Key != want[i] {
			t.Fatalf("List entry %d is %q, want %q (previous %q)", i, a.Key, want[i], want[max(i-1, 0)])
		}
		if a.Size != int64(len(a.Key)) {
			t.Fatalf("List entry %q has size %d, want %d", a.Key, a.Size, len(a.Key))
		}
	}
	// A prefix inside the last segment, across the numeric/byte-order mismatch.
	var sub []string
	for _, k := range want {
		if strings.HasPrefix(k, "many/204") {
			sub = append(sub, k)
		}
	}
	e.wantKeys(e.b, "many/204", sub...)
}

// putAll stores every key with its own name as content, with workers goroutines.
func putAll(ctx context.Context, b *storage.Bucket, keys []string, workers int) error {
	jobs := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range jobs {
				if _, err := b.PutBytes(ctx, k, []byte(k), storage.Condition{}); err != nil {
					errs <- fmt.Errorf("Put(%q): %w", k, err)
					return
				}
			}
		})
	}
	failed := false
	for _, k := range keys {
		select {
		case jobs <- k:
		case err := <-errs:
			errs <- err
			failed = true
		}
		if failed {
			break
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs // nil when none failed
}

// listNoLeftovers makes puts fail in every way the suite can (reader failure,
// cancellation, lost conditions) and checks that the listing holds no trace of them:
// no temporary, partial or hidden entry.
func listNoLeftovers(t *testing.T, e *env) {
	e.put("keep/a", []byte("a"))
	data := payload(200_000, "leftover")
	for _, k := range []string{"keep/a", "keep/new", "other/new"} {
		if _, err := e.b.Put(e.ctx, k, &failingReader{data: data, failAt: 100_000}, storage.PutOptions{Size: int64(len(data))}); err == nil {
			t.Fatalf("Put(%q) succeeded although its reader failed", k)
		}
		ctx, cancel := context.WithCancel(e.ctx)
		r := newBlockingReader(ctx, data, 100_000)
		done := make(chan error, 1)
		go func() {
			_, err := e.b.Put(ctx, k, r, storage.PutOptions{Size: int64(len(data))})
			done <- err
		}()
		select {
		case <-r.reached:
			cancel()
		case err := <-done: // the put gave up before reading that far
			cancel()
			done <- err
		}
		if err := <-done; err == nil {
			t.Fatalf("Put(%q) succeeded although its context was cancelled midway", k)
		}
	}
	if e.caps.ConditionalCreate {
		if _, err := e.b.PutBytes(e.ctx, "keep/a", data, ifNotExists()); err == nil {
			t.Fatal("create-only Put of an existing key succeeded")
		}
	}
	e.wantKeys(e.b, "", "keep/a")
	e.wantContent(e.b, "keep/a", []byte("a"))
}
