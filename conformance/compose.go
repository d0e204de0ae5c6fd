package conformance

import (
	"fmt"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// Compose is optional (storage.Composer): every check of this group skips on a
// backend whose driver does not implement it, after checking that Bucket.Compose
// then refuses with ErrUnsupported and creates nothing.
func composeChecks() []check {
	return []check{
		{"concatenates_in_order", composeInOrder},
		{"one_source_is_a_copy", composeOne},
		{"empty_sources", composeEmpty},
		{"existing_destination_is_precondition", composeOntoExisting},
		{"missing_source_not_found", composeMissing},
		{"source_under_minimum_invalid", composeUnderMinimum},
		{"racing_composes_one_destination", composeRace},
		{"other_instance_sees_it", composeOtherInstance},
	}
}

func (e *env) needCompose() {
	e.t.Helper()
	if _, _, ok := e.b.ComposeLimits(); ok {
		return
	}
	e.put("unsupported/src", []byte("x"))
	_, err := e.b.Compose(e.ctx, "unsupported/dst", []string{"unsupported/src"})
	wantKind(e.t, err, storage.ErrUnsupported, "Compose on a driver without storage.Composer")
	e.wantMissing(e.b, "unsupported/dst")
	e.t.Skip("the driver does not implement storage.Composer")
}

// sourceSize is a size every source may have: the backend's minimum, or n.
func (e *env) sourceSize(n int) int {
	least, _, _ := e.b.ComposeLimits()
	return max(n, int(least))
}

// compose composes srcs into dst and checks the answer, dst and that every source
// is unchanged.
func (e *env) compose(dst string, srcs []string, datas [][]byte) {
	e.t.Helper()
	attrs, err := e.b.Compose(e.ctx, dst, srcs)
	if err != nil {
		e.t.Fatalf("Compose(%q, %q): %v", dst, srcs, err)
	}
	want := concat(datas...)
	if attrs.Key != dst || attrs.Size != int64(len(want)) || attrs.Version == "" {
		e.t.Fatalf("Compose(%q) = key %q size %d version %q, want %q %d and a version", dst, attrs.Key, attrs.Size, attrs.Version, dst, len(want))
	}
	if st, err := e.b.Stat(e.ctx, dst); err != nil || st.Size != attrs.Size || st.Version != attrs.Version {
		e.t.Fatalf("Stat after Compose = %+v, %v; Compose answered %+v", st, err, attrs)
	}
	e.wantContent(e.b, dst, want)
	for i, src := range srcs {
		e.wantContent(e.b, src, datas[i])
	}
}

func composeInOrder(t *testing.T, e *env) {
	e.needCompose()
	n := e.sourceSize(3000)
	datas := [][]byte{payload(n, "first"), payload(n+17, "second"), payload(1000, "last, short")}
	srcs := []string{"c/parts/2", "c/parts/10", "c/parts/1"} // not in key order: the list's order counts
	for i, k := range srcs {
		e.put(k, datas[i])
	}
	e.compose("c/whole", srcs, datas)
	e.wantKeys(e.b, "c/", "c/parts/1", "c/parts/10", "c/parts/2", "c/whole")
	// The composed object is an object like any other: replaced and deleted.
	e.put("c/whole", []byte("replaced"))
	if err := e.b.Delete(e.ctx, "c/whole"); err != nil {
		t.Fatal(err)
	}
}

func composeOne(t *testing.T, e *env) {
	e.needCompose()
	data := payload(e.sourceSize(70_000)+3, "only")
	e.put("o/src", data)
	e.compose("o/other/folder/dst", []string{"o/src"}, [][]byte{data})
}

func composeEmpty(t *testing.T, e *env) {
	e.needCompose()
	data := payload(e.sourceSize(5000), "before empty")
	e.put("z/empty", nil)
	e.put("z/data", data)
	e.compose("z/from-empty", []string{"z/empty"}, [][]byte{{}})
	e.compose("z/empty-last", []string{"z/data", "z/empty"}, [][]byte{data, {}})
}

func composeOntoExisting(t *testing.T, e *env) {
	e.needCompose()
	src, dst := payload(e.sourceSize(2000), "src"), payload(1000, "dst")
	e.put("p/src", src)
	e.put("p/dst", dst)
	_, err := e.b.Compose(e.ctx, "p/dst", []string{"p/src"})
	wantKind(t, err, storage.ErrPrecondition, "Compose onto an existing key")
	e.wantContent(e.b, "p/dst", dst)
	e.wantContent(e.b, "p/src", src)
}

func composeMissing(t *testing.T, e *env) {
	e.needCompose()
	data := payload(e.sourceSize(2000), "present")
	e.put("n/present", data)
	for _, srcs := range [][]string{{"n/missing"}, {"n/present", "n/missing"}, {"n/missing", "n/present"}} {
		_, err := e.b.Compose(e.ctx, "n/dst", srcs)
		wantKind(t, err, storage.ErrNotFound, "Compose with a missing source")
		e.wantMissing(e.b, "n/dst")
	}
	e.wantKeys(e.b, "n/", "n/present")
}

func composeUnderMinimum(t *testing.T, e *env) {
	e.needCompose()
	least, _, _ := e.b.ComposeLimits()
	if least <= 1 {
		t.Skip("the driver has no minimum source size")
	}
	small, last := payload(int(least)-1, "too small"), payload(100, "last")
	e.put("u/small", small)
	e.put("u/last", last)
	_, err := e.b.Compose(e.ctx, "u/dst", []string{"u/small", "u/last"})
	wantKind(t, err, storage.ErrInvalidArgument, "Compose with a source under the minimum size before the last")
	e.wantMissing(e.b, "u/dst")
	// As the last source the same object is fine.
	big := payload(int(least), "big enough")
	e.put("u/big", big)
	e.compose("u/ok", []string{"u/big", "u/small"}, [][]byte{big, small})
}

// Two Composes of one destination: exactly one succeeds, the other is refused, and
// the destination holds the winner's bytes.
func composeRace(t *testing.T, e *env) {
	e.needCompose()
	n := e.sourceSize(20_000)
	datas := [][]byte{payload(n, "race one"), payload(n, "race two")}
	e.put("r/one", datas[0])
	e.put("r/two", datas[1])
	srcs := []string{"r/one", "r/two"}
	for round := range 5 {
		won := oneWinner(t, fmt.Sprintf("round %d: Composes of one destination", round), len(srcs), func(i int) error {
			_, err := e.b.Compose(e.ctx, "r/dst", []string{srcs[i]})
			return err
		}, nil)
		e.wantContent(e.b, "r/dst", datas[won])
		if err := e.b.Delete(e.ctx, "r/dst"); err != nil {
			t.Fatal(err)
		}
	}
}

func composeOtherInstance(t *testing.T, e *env) {
	e.needCompose()
	e.needShared()
	other := e.instance()
	data := payload(e.sourceSize(4000), "shared")
	e.put("i/src", data)
	e.compose("i/dst", []string{"i/src", "i/src"}, [][]byte{data, data})
	e.wantContent(other, "i/dst", concat(data, data))
}
