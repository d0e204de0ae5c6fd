package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// Move is optional (storage.Mover): every check of this group skips on a backend
// whose driver does not implement it, after checking that Bucket.Move then refuses
// with ErrUnsupported and changes nothing.
func moveChecks() []check {
	return []check{
		{"moves_bytes_and_removes_source", moveBytes},
		{"into_new_folder_and_out_of_last_one", moveFolders},
		{"existing_destination_is_precondition", moveOntoExisting},
		{"missing_source_not_found", moveMissing},
		{"same_key_invalid", moveSameKey},
		{"large_object", moveLarge},
		{"racing_moves_of_one_source", moveRaceOneSource},
		{"racing_moves_to_one_destination", moveRaceOneDestination},
		{"other_instance_sees_it", moveOtherInstance},
	}
}

func (e *env) needMove() {
	e.t.Helper()
	if e.b.CanMove() {
		return
	}
	e.put("unsupported/src", []byte("x"))
	_, err := e.b.Move(e.ctx, "unsupported/src", "unsupported/dst")
	wantKind(e.t, err, storage.ErrUnsupported, "Move on a driver without storage.Mover")
	e.wantContent(e.b, "unsupported/src", []byte("x"))
	e.wantMissing(e.b, "unsupported/dst")
	e.t.Skip("the driver does not implement storage.Mover")
}

// move moves src to dst and checks the answer and both names.
func (e *env) move(src, dst string, want []byte) storage.Attributes {
	e.t.Helper()
	attrs, err := e.b.Move(e.ctx, src, dst)
	if err != nil {
		e.t.Fatalf("Move(%q, %q): %v", src, dst, err)
	}
	if attrs.Key != dst || attrs.Size != int64(len(want)) {
		e.t.Fatalf("Move(%q, %q) = key %q size %d, want %q %d", src, dst, attrs.Key, attrs.Size, dst, len(want))
	}
	e.wantContent(e.b, dst, want)
	e.wantMissing(e.b, src)
	return attrs
}

func moveBytes(t *testing.T, e *env) {
	e.needMove()
	data := payload(100_000, "move")
	e.put("m/src", data)
	e.put("m/other", []byte("stays"))
	attrs := e.move("m/src", "m/dst", data)
	st, err := e.b.Stat(e.ctx, "m/dst")
	if err != nil || st.Version != attrs.Version || st.Size != attrs.Size {
		t.Fatalf("Stat after Move = %+v, %v; Move answered %+v", st, err, attrs)
	}
	e.wantKeys(e.b, "m/", "m/dst", "m/other")
	// The moved object behaves like any other: it can be replaced and deleted.
	e.put("m/dst", []byte("new"))
	e.wantContent(e.b, "m/dst", []byte("new"))
	if err := e.b.Delete(e.ctx, "m/dst"); err != nil {
		t.Fatalf("Delete after Move: %v", err)
	}
	// And the old name is free again.
	if _, err := e.b.PutBytes(e.ctx, "m/src", []byte("again"), storage.Condition{IfNotExists: e.caps.ConditionalCreate}); err != nil {
		t.Fatalf("create-only Put of the moved-away name: %v", err)
	}
}

func moveFolders(t *testing.T, e *env) {
	e.needMove()
	data := payload(3000, "folders")
	e.put("up/a/b/only", data)
	e.move("up/a/b/only", "done/x/y/z/obj", data)
	e.wantKeys(e.b, "up/")
	e.wantKeys(e.b, "done/", "done/x/y/z/obj")
	// The emptied source folder does not block a key of that name.
	e.put("up/a", []byte("object where a folder was"))
	e.move("done/x/y/z/obj", "up/a2", data)
}

func moveOntoExisting(t *testing.T, e *env) {
	e.needMove()
	src, dst := payload(2000, "src"), payload(1000, "dst")
	e.put("p/src", src)
	e.put("p/dst", dst)
	_, err := e.b.Move(e.ctx, "p/src", "p/dst")
	wantKind(t, err, storage.ErrPrecondition, "Move onto an existing key")
	e.wantContent(e.b, "p/src", src)
	e.wantContent(e.b, "p/dst", dst)
}

func moveMissing(t *testing.T, e *env) {
	e.needMove()
	e.put("n/dst-parent-sibling", []byte("x"))
	_, err := e.b.Move(e.ctx, "n/missing", "n/dst")
	wantKind(t, err, storage.ErrNotFound, "Move of a missing key")
	e.wantMissing(e.b, "n/dst")
	e.wantKeys(e.b, "n/", "n/dst-parent-sibling")
	// A refused move leaves no folder behind for its destination (on a file system, a
	// folder made for it would keep a key of its name from being stored).
	_, err = e.b.Move(e.ctx, "n/missing", "made/for/dst")
	wantKind(t, err, storage.ErrNotFound, "Move of a missing key into a new folder")
	e.put("made", []byte("a key where the refused move's folder would be"))
	e.wantKeys(e.b, "made", "made")
}

func moveSameKey(t *testing.T, e *env) {
	e.needMove()
	e.put("s/k", []byte("x"))
	_, err := e.b.Move(e.ctx, "s/k", "s/k")
	wantKind(t, err, storage.ErrInvalidArgument, "Move onto itself")
	e.wantContent(e.b, "s/k", []byte("x"))
}

func moveLarge(t *testing.T, e *env) {
	e.needMove()
	data := payload(9<<20+17, "large move")
	e.put("l/src", data)
	e.move("l/src", "l/dst", data)
}

// Two moves of one source: exactly one succeeds, the other finds the source gone,
// and the bytes end up under exactly one destination.
func moveRaceOneSource(t *testing.T, e *env) {
	e.needMove()
	data := payload(50_000, "race")
	for round := range 10 {
		src := "r/src"
		e.put(src, data)
		dsts := []string{"r/d1", "r/d2"}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range dsts {
			wg.Go(func() { _, errs[i] = e.b.Move(e.ctx, src, dsts[i]) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				e.wantContent(e.b, dsts[i], data)
			case errors.Is(err, storage.ErrNotFound):
				e.wantMissing(e.b, dsts[i])
			default:
				t.Fatalf("round %d: Move to %s: %v", round, dsts[i], err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d moves of one source succeeded, want exactly 1", round, won)
		}
		e.wantMissing(e.b, src)
		for _, d := range dsts {
			if err := e.b.Delete(e.ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Two sources moved to one destination: exactly one arrives, the other source is
// left as it was.
func moveRaceOneDestination(t *testing.T, e *env) {
	e.needMove()
	for round := range 10 {
		srcs := []string{"q/s1", "q/s2"}
		datas := [][]byte{payload(40_000, "one"), payload(30_000, "two")}
		for i := range srcs {
			e.put(srcs[i], datas[i])
		}
		won := oneWinner(t, fmt.Sprintf("round %d: Moves onto one destination", round), len(srcs), func(i int) error {
			_, err := e.b.Move(e.ctx, srcs[i], "q/dst")
			return err
		}, func(i int) { e.wantContent(e.b, srcs[i], datas[i]) })
		e.wantContent(e.b, "q/dst", datas[won])
		e.wantMissing(e.b, srcs[won])
		for _, k := range append(srcs, "q/dst") {
			if err := e.b.Delete(e.ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func moveOtherInstance(t *testing.T, e *env) {
	e.needMove()
	e.needShared()
	other := e.instance()
	data := payload(5000, "shared")
	e.put("i/src", data)
	e.move("i/src", "i/dst", data)
	e.wantContent(other, "i/dst", data)
	e.wantMissing(other, "i/src")
}
