package conformance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

func statChecks() []check {
	return []check{
		{"fields", statFields},
		{"missing_key_not_found", statMissing},
		{"empty_object", statEmpty},
		{"size_follows_overwrite", statAfterOverwrite},
		{"same_as_get", statSameAsGet},
	}
}

func statFields(t *testing.T, e *env) {
	data := payload(4321, "stat")
	put := e.put("s/obj", data)
	st, err := e.b.Stat(e.ctx, "s/obj")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Key != "s/obj" || st.Size != int64(len(data)) || st.Version != put.Version {
		t.Fatalf("Stat = key %q size %d version %q; want %q %d %q", st.Key, st.Size, st.Version, "s/obj", len(data), put.Version)
	}
	// A sanity bound, not a timing assertion: a zero or absurd time means the field
	// was not filled in.
	if st.ModTime.IsZero() || st.ModTime.Year() < 2000 {
		t.Fatalf("Stat ModTime = %v, want the time of the put", st.ModTime)
	}
}

func statMissing(t *testing.T, e *env) {
	e.put("dir/child", []byte("x"))
	for _, k := range []string{"missing", "dir", "dir/chil", "dir/child/grandchild"} {
		_, err := e.b.Stat(e.ctx, k)
		wantKind(t, err, storage.ErrNotFound, fmt.Sprintf("Stat(%q)", k))
	}
}

func statEmpty(t *testing.T, e *env) {
	e.put("e", nil)
	st, err := e.b.Stat(e.ctx, "e")
	if err != nil || st.Size != 0 {
		t.Fatalf("Stat of an empty object = %+v, %v; want size 0", st, err)
	}
}

func statAfterOverwrite(t *testing.T, e *env) {
	first := e.put("o", payload(500, "a"))
	second := e.put("o", payload(70, "b"))
	st, err := e.b.Stat(e.ctx, "o")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Size != 70 || st.Version != second.Version || st.Version == first.Version {
		t.Fatalf("Stat after overwrite = size %d version %q; want 70 and %q", st.Size, st.Version, second.Version)
	}
}

func statSameAsGet(t *testing.T, e *env) {
	e.put("g", payload(999, "g"))
	st, err := e.b.Stat(e.ctx, "g")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	rc, ga, err := e.b.Get(e.ctx, "g", 10, 10)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	rc.Close()
	if ga.Size != st.Size || ga.Version != st.Version || !ga.ModTime.Equal(st.ModTime) && !ga.ModTime.IsZero() {
		t.Fatalf("Get attributes %+v differ from Stat's %+v", ga, st)
	}
}

func deleteChecks() []check {
	return []check{
		{"removes_object", deleteRemoves},
		{"missing_key_succeeds", deleteMissing},
		{"twice_succeeds", deleteTwice},
		{"keeps_neighbours", deleteNeighbours},
		{"recreate_after_delete", deleteRecreate},
		{"key_that_is_a_prefix", deletePrefixKey},
		{"leaves_nothing_in_the_way", deleteLeavesNothing},
	}
}

// deleteLeavesNothing: on a file tree, deleting the last key under a folder must take
// the folders made for it too (up to the storage's root), or a key named like one of
// them could never be stored again; elsewhere the check is plain.
func deleteLeavesNothing(t *testing.T, e *env) {
	e.put("x/y/z", []byte("deep"))
	if err := e.b.Delete(e.ctx, "x/y/z"); err != nil {
		t.Fatalf("Delete(x/y/z): %v", err)
	}
	e.wantKeys(e.b, "")
	for _, k := range []string{"x/y", "x"} {
		if _, err := e.b.PutBytes(e.ctx, k, []byte(k), storage.Condition{}); err != nil {
			t.Fatalf("Put(%q) after the only key under it, x/y/z, was deleted: %v", k, err)
		}
		e.wantContent(e.b, k, []byte(k))
		if err := e.b.Delete(e.ctx, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
	e.wantKeys(e.b, "")
}

func deleteRemoves(t *testing.T, e *env) {
	e.put("d", []byte("x"))
	if err := e.b.Delete(e.ctx, "d"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.wantMissing(e.b, "d")
	e.wantKeys(e.b, "")
}

func deleteMissing(t *testing.T, e *env) {
	for _, k := range []string{"never", "never/nested/deep"} {
		if err := e.b.Delete(e.ctx, k); err != nil {
			t.Fatalf("Delete(%q) of a missing key = %v, want nil", k, err)
		}
	}
	e.wantKeys(e.b, "")
}

func deleteTwice(t *testing.T, e *env) {
	e.put("d", []byte("x"))
	for i := range 2 {
		if err := e.b.Delete(e.ctx, "d"); err != nil {
			t.Fatalf("Delete %d: %v", i+1, err)
		}
	}
	e.wantMissing(e.b, "d")
}

func deleteNeighbours(t *testing.T, e *env) {
	keys := treeSafe(e, []string{"a", "ab", "a/b", "a-b", "b"}, "a")
	for _, k := range keys {
		e.put(k, []byte(k))
	}
	if err := e.b.Delete(e.ctx, "ab"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	rest := slices.DeleteFunc(keys, func(k string) bool { return k == "ab" })
	slices.Sort(rest)
	e.wantKeys(e.b, "", rest...)
	for _, k := range rest {
		e.wantContent(e.b, k, []byte(k))
	}
}

func deleteRecreate(t *testing.T, e *env) {
	e.put("d", []byte("one"))
	if err := e.b.Delete(e.ctx, "d"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.put("d", []byte("two"))
	e.wantContent(e.b, "d", []byte("two"))
}

// deletePrefixKey deletes "x/y" where "x/y/z" also exists, and the other way round;
// neither may take the other with it.
func deletePrefixKey(t *testing.T, e *env) {
	e.put("x/y/z", []byte("z"))
	if err := e.b.Delete(e.ctx, "x/y"); err != nil {
		t.Fatalf("Delete(%q), a prefix of an existing key: %v", "x/y", err)
	}
	e.wantContent(e.b, "x/y/z", []byte("z"))
	e.put("p/q", []byte("q"))
	e.put("p/q2", []byte("q2"))
	if err := e.b.Delete(e.ctx, "p/q"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.wantKeys(e.b, "p/", "p/q2")
}
