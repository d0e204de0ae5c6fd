package conformance

import (
	"errors"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

func instanceChecks() []check {
	return []check{
		{"second_sees_writes", instSeesWrites},
		{"second_sees_overwrite", instSeesOverwrite},
		{"second_sees_delete", instSeesDelete},
		{"second_lists_first", instLists},
		{"conditional_create_across_instances", instCreate},
		{"stale_version_across_instances", instStale},
		{"conditional_puts_across_processes", instAcrossProcesses},
		{"closed_put", func(t *testing.T, e *env) { closedOp(t, e, "put") }},
		{"closed_get", func(t *testing.T, e *env) { closedOp(t, e, "get") }},
		{"closed_stat", func(t *testing.T, e *env) { closedOp(t, e, "stat") }},
		{"closed_delete", func(t *testing.T, e *env) { closedOp(t, e, "delete") }},
		{"closed_list", func(t *testing.T, e *env) { closedOp(t, e, "list") }},
		{"close_leaves_other_instances", instCloseOther},
		{"close_twice", instCloseTwice},
	}
}

func instSeesWrites(t *testing.T, e *env) {
	e.needShared()
	data := payload(10_000, "shared")
	e.put("sh/a", data)
	e.wantContent(e.instance(), "sh/a", data)
}

func instSeesOverwrite(t *testing.T, e *env) {
	e.needShared()
	b2 := e.instance()
	e.put("sh/a", []byte("one"))
	e.wantContent(b2, "sh/a", []byte("one"))
	v := e.put("sh/a", []byte("two")).Version
	e.wantContent(b2, "sh/a", []byte("two"))
	if st, err := b2.Stat(e.ctx, "sh/a"); err != nil || st.Version != v {
		t.Fatalf("the second instance's Stat = %+v, %v; want version %q", st, err, v)
	}
}

func instSeesDelete(t *testing.T, e *env) {
	e.needShared()
	b2 := e.instance()
	e.put("sh/a", []byte("x"))
	e.wantContent(b2, "sh/a", []byte("x"))
	if err := b2.Delete(e.ctx, "sh/a"); err != nil {
		t.Fatalf("Delete on the second instance: %v", err)
	}
	e.wantMissing(e.b, "sh/a")
}

func instLists(t *testing.T, e *env) {
	e.needShared()
	for _, k := range []string{"sh/b", "sh/a", "sh/c/d"} {
		e.put(k, []byte(k))
	}
	e.wantKeys(e.instance(), "sh/", "sh/a", "sh/b", "sh/c/d")
}

func instCreate(t *testing.T, e *env) {
	e.needShared()
	e.needCreate()
	if _, err := e.b.PutBytes(e.ctx, "sh/c", []byte("first"), ifNotExists()); err != nil {
		t.Fatalf("create-only Put: %v", err)
	}
	_, err := e.instance().PutBytes(e.ctx, "sh/c", []byte("second"), ifNotExists())
	wantKind(t, err, storage.ErrPrecondition, "create-only Put on a second instance of an existing key")
	e.wantContent(e.b, "sh/c", []byte("first"))
}

func instStale(t *testing.T, e *env) {
	e.needShared()
	e.needReplace()
	b2 := e.instance()
	v := e.put("sh/r", []byte("one")).Version
	if _, err := b2.PutBytes(e.ctx, "sh/r", []byte("two"), ifVersion(v)); err != nil {
		t.Fatalf("replace on the second instance: %v", err)
	}
	_, err := e.b.PutBytes(e.ctx, "sh/r", []byte("three"), ifVersion(v))
	wantKind(t, err, storage.ErrPrecondition, "replace with a version another instance made stale")
	e.wantContent(e.b, "sh/r", []byte("two"))
}

// closedOp closes an instance and checks that op on it fails with ErrClosed.
func closedOp(t *testing.T, e *env, op string) {
	e.put("cl", []byte("x"))
	b := e.instance()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var err error
	switch op {
	case "put":
		_, err = b.PutBytes(e.ctx, "cl2", []byte("y"), storage.Condition{})
	case "get":
		_, _, err = readRange(e.ctx, b, "cl", 0, -1)
	case "stat":
		_, err = b.Stat(e.ctx, "cl")
	case "delete":
		err = b.Delete(e.ctx, "cl")
	case "list":
		_, err = listAll(e.ctx, b, "")
	}
	wantKind(t, err, storage.ErrClosed, op+" on a closed driver")
	if e.caps.SharedAcrossInstances {
		e.wantContent(e.b, "cl", []byte("x"))
		e.wantMissing(e.b, "cl2")
	}
}

func instCloseOther(t *testing.T, e *env) {
	e.needShared()
	b2 := e.instance()
	e.put("o", []byte("x"))
	if err := b2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.wantContent(e.b, "o", []byte("x"))
	e.put("o", []byte("y"))
	e.wantContent(e.instance(), "o", []byte("y"))
}

// instCloseTwice: the Opener closes its instances in t.Cleanup, so a driver the
// engine already closed is closed again; that must be harmless.
func instCloseTwice(t *testing.T, e *env) {
	b := e.instance()
	if err := b.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := b.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("second Close = %v, want nil or an error matching storage.ErrClosed", err)
	}
}
