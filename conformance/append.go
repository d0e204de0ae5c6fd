package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/lectern/lectern/core/storage"
)

// Append is optional (storage.Appender): every check of this group skips on a
// backend whose driver does not implement it, after checking that Bucket.Append then
// refuses with ErrUnsupported and changes nothing.
func appendChecks() []check {
	return []check{
		{"appends_bytes_with_new_version", appendBytes},
		{"cuts_at_offset", appendCuts},
		{"offset_past_end_is_precondition", appendPastEnd},
		{"missing_key_not_found", appendMissing},
		{"wrong_version_is_precondition", appendWrongVersion},
		{"failed_reader_keeps_prefix", appendFailedReader},
		{"cancelled_keeps_prefix", appendCancelled},
		{"large_in_steps", appendLarge},
		{"racing_appends_one_version", appendRaceVersioned},
		{"racing_appends_never_interleave", appendRaceUnversioned},
		{"other_instance_sees_it", appendOtherInstance},
		{"other_instance_old_version_refused", appendOtherInstanceVersion},
	}
}

func (e *env) needAppend() {
	e.t.Helper()
	if e.b.CanAppend() {
		return
	}
	e.put("unsupported/obj", []byte("x"))
	_, err := e.b.Append(e.ctx, "unsupported/obj", 1, bytes.NewReader([]byte("y")), "")
	wantKind(e.t, err, storage.ErrUnsupported, "Append on a driver without storage.Appender")
	e.wantContent(e.b, "unsupported/obj", []byte("x"))
	e.t.Skip("the driver does not implement storage.Appender")
}

// appendOK appends data at offset and checks the answer against Stat and the bytes
// the object should now hold.
func (e *env) appendOK(key string, offset int64, data []byte, ifVersion string, want []byte) storage.Attributes {
	e.t.Helper()
	attrs, err := e.b.Append(e.ctx, key, offset, bytes.NewReader(data), ifVersion)
	if err != nil {
		e.t.Fatalf("Append(%q, %d, %d bytes): %v", key, offset, len(data), err)
	}
	if attrs.Key != key || attrs.Size != int64(len(want)) || attrs.Version == "" {
		e.t.Fatalf("Append(%q) = key %q size %d version %q, want %q %d and a version", key, attrs.Key, attrs.Size, attrs.Version, key, len(want))
	}
	st, err := e.b.Stat(e.ctx, key)
	if err != nil || st.Size != attrs.Size || st.Version != attrs.Version {
		e.t.Fatalf("Stat after Append = %+v, %v; Append answered %+v", st, err, attrs)
	}
	e.wantContent(e.b, key, want)
	return attrs
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func appendBytes(t *testing.T, e *env) {
	e.needAppend()
	head, more := payload(10_000, "head"), payload(70_001, "more")
	put := e.put("a/k", head)
	attrs := e.appendOK("a/k", int64(len(head)), more, put.Version, concat(head, more))
	if attrs.Version == put.Version {
		t.Fatalf("Append kept the version %q", put.Version)
	}
	if e.caps.ConditionalReplace {
		_, err := e.b.PutBytes(e.ctx, "a/k", []byte("x"), storage.Condition{IfVersion: put.Version})
		wantKind(t, err, storage.ErrPrecondition, "Put naming the version before the Append")
	}
	// An appended object is an object like any other: listed with its size,
	// replaced and deleted.
	objs, err := listAll(e.ctx, e.b, "a/")
	if err != nil || len(objs) != 1 || objs[0].Size != attrs.Size {
		t.Fatalf("List after Append = %+v, %v; want a/k of %d bytes", objs, err, attrs.Size)
	}
	e.put("a/k", []byte("replaced"))
	e.wantContent(e.b, "a/k", []byte("replaced"))
	if err := e.b.Delete(e.ctx, "a/k"); err != nil {
		t.Fatal(err)
	}
	e.wantMissing(e.b, "a/k")
}

func appendCuts(t *testing.T, e *env) {
	e.needAppend()
	head, more := payload(10_000, "cut head"), payload(3000, "cut more")
	e.put("c/k", head)
	e.appendOK("c/k", 4000, more, "", concat(head[:4000], more))
	e.appendOK("c/k", 7000, nil, "", concat(head[:4000], more))
	e.appendOK("c/k", 5, nil, "", head[:5])
	e.appendOK("c/k", 0, more, "", more)
	e.appendOK("c/k", 0, nil, "", []byte{})
}

func appendPastEnd(t *testing.T, e *env) {
	e.needAppend()
	head := payload(1000, "short")
	put := e.put("p/k", head)
	_, err := e.b.Append(e.ctx, "p/k", 1001, bytes.NewReader([]byte("gap")), "")
	wantKind(t, err, storage.ErrPrecondition, "Append past the end")
	e.wantContent(e.b, "p/k", head)
	if st, err := e.b.Stat(e.ctx, "p/k"); err != nil || st.Version != put.Version {
		t.Fatalf("a refused Append changed the version: %+v, %v (was %q)", st, err, put.Version)
	}
}

func appendMissing(t *testing.T, e *env) {
	e.needAppend()
	e.put("n/sibling", []byte("x"))
	for _, key := range []string{"n/missing", "n/deeper/missing"} {
		_, err := e.b.Append(e.ctx, key, 0, bytes.NewReader([]byte("new")), "")
		wantKind(t, err, storage.ErrNotFound, "Append to a missing key")
		e.wantMissing(e.b, key)
	}
	e.wantKeys(e.b, "n/", "n/sibling")
}

func appendWrongVersion(t *testing.T, e *env) {
	e.needAppend()
	head := payload(2000, "versioned")
	first := e.put("v/k", head)
	second := e.put("v/k", head)
	for _, v := range []string{first.Version, "not-a-version-of-this-backend"} {
		if v == second.Version {
			t.Fatalf("two puts gave one version %q", v)
		}
		_, err := e.b.Append(e.ctx, "v/k", 2000, bytes.NewReader([]byte("more")), v)
		wantKind(t, err, storage.ErrPrecondition, "Append naming another version")
		e.wantContent(e.b, "v/k", head)
	}
	e.appendOK("v/k", 2000, []byte("more"), second.Version, concat(head, []byte("more")))
}

// recoverAppend checks what the contract promises after a failed Append: the first
// offset bytes are intact, and appending at offset again (with the version Stat
// now reports) gives exactly the intended object.
func (e *env) recoverAppend(key string, head []byte, offset int64, data []byte) {
	e.t.Helper()
	rc, _, err := e.b.Get(e.ctx, key, 0, offset)
	if err != nil {
		e.t.Fatalf("Get after a failed Append: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, head[:offset]) {
		e.t.Fatalf("after a failed Append the first %d bytes are %s (%v), want %s", offset, describe(got), err, describe(head[:offset]))
	}
	st, err := e.b.Stat(e.ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	e.appendOK(key, offset, data, st.Version, concat(head[:offset], data))
}

func appendFailedReader(t *testing.T, e *env) {
	e.needAppend()
	head, more := payload(50_000, "fail head"), payload(200_000, "fail more")
	put := e.put("f/k", head)
	_, err := e.b.Append(e.ctx, "f/k", 30_000, &failingReader{data: more, failAt: 150_000}, put.Version)
	if err == nil {
		t.Fatal("Append with a failing reader succeeded")
	}
	e.recoverAppend("f/k", head, 30_000, more)
}

// appendCancelled cancels an Append while its reader is blocked; the reader then goes
// on to its end (see blockingReader), so only a driver that watches its context
// fails with the cancellation.
func appendCancelled(t *testing.T, e *env) {
	e.needAppend()
	head, more := payload(40_000, "cancel head"), payload(300_000, "cancel more")
	e.put("x/k", head)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	r := newBlockingReader(ctx, more, 100_000)
	done := make(chan error, 1)
	go func() {
		_, err := e.b.Append(ctx, "x/k", 40_000, r, "")
		done <- err
	}()
	select {
	case <-r.reached:
	case err := <-done:
		t.Fatalf("Append ended before its reader blocked: %v", err)
	}
	cancel()
	err := <-done
	if err == nil {
		t.Fatal("Append cancelled midway succeeded: the driver did not watch its context while reading")
	}
	wantCanceled(t, err, "Append cancelled midway")
	e.recoverAppend("x/k", head, 40_000, more)
}

// appendLarge builds a 9 MiB object in uneven steps, each naming the version the
// previous one returned, as an upload does.
func appendLarge(t *testing.T, e *env) {
	e.needAppend()
	want := payload(48, "header")
	attrs := e.put("l/k", want)
	for i, n := range []int{3<<20 + 11, 1, 65_536, 5<<20 + 1000} {
		step := payload(n, "step"+string(rune('a'+i)))
		want = concat(want, step)
		attrs = e.appendOK("l/k", attrs.Size, step, attrs.Version, want)
	}
}

// Two Appends naming one version: exactly one succeeds, the other is refused, and
// the object holds the winner's bytes.
func appendRaceVersioned(t *testing.T, e *env) {
	e.needAppend()
	head := payload(20_000, "race head")
	datas := [][]byte{payload(300_000, "race one"), payload(200_000, "race two")}
	for round := range 10 {
		put := e.put("r/k", head)
		won := oneWinner(t, fmt.Sprintf("round %d: Appends naming one version", round), len(datas), func(i int) error {
			_, err := e.b.Append(e.ctx, "r/k", int64(len(head)), bytes.NewReader(datas[i]), put.Version)
			return err
		}, nil)
		e.wantContent(e.b, "r/k", concat(head, datas[won]))
	}
}

// Two unconditional Appends at one offset: each succeeds or is refused, and the
// object holds the bytes of one that succeeded, never a mix.
func appendRaceUnversioned(t *testing.T, e *env) {
	e.needAppend()
	head := payload(10_000, "mix head")
	datas := [][]byte{payload(400_000, "mix one"), payload(400_000, "mix two")}
	for round := range 10 {
		e.put("u/k", head)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range datas {
			wg.Go(func() {
				_, errs[i] = e.b.Append(e.ctx, "u/k", int64(len(head)), bytes.NewReader(datas[i]), "")
			})
		}
		wg.Wait()
		got, _, err := e.b.ReadAll(e.ctx, "u/k")
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for i, err := range errs {
			switch {
			case err == nil:
				ok = ok || bytes.Equal(got, concat(head, datas[i]))
			case errors.Is(err, storage.ErrPrecondition):
			default:
				t.Fatalf("round %d: Append %d: %v", round, i, err)
			}
		}
		if !ok {
			t.Fatalf("round %d: the object holds %s, not the bytes of an Append that succeeded (errors %v)", round, describe(got), errs)
		}
	}
}

func appendOtherInstance(t *testing.T, e *env) {
	e.needAppend()
	e.needShared()
	other := e.instance()
	head, more := payload(5000, "shared head"), payload(7000, "shared more")
	e.put("i/k", head)
	attrs := e.appendOK("i/k", 5000, more, "", concat(head, more))
	e.wantContent(other, "i/k", concat(head, more))
	if st, err := other.Stat(e.ctx, "i/k"); err != nil || st.Version != attrs.Version || st.Size != attrs.Size {
		t.Fatalf("other instance's Stat = %+v, %v; Append answered %+v", st, err, attrs)
	}
}

// A writer on another instance that still holds the version from before an Append
// is refused: the version is how an upload's writer notices that it lost the object.
func appendOtherInstanceVersion(t *testing.T, e *env) {
	e.needAppend()
	e.needShared()
	other := e.instance()
	head := payload(3000, "stale head")
	put := e.put("s/k", head)
	e.appendOK("s/k", 3000, []byte("first writer"), put.Version, concat(head, []byte("first writer")))
	_, err := other.Append(e.ctx, "s/k", 3000, bytes.NewReader([]byte("second writer")), put.Version)
	wantKind(t, err, storage.ErrPrecondition, "Append on another instance naming the old version")
	e.wantContent(e.b, "s/k", concat(head, []byte("first writer")))
}
