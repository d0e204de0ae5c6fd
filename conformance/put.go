package conformance

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/lectern/lectern/core/storage"
)

func putChecks() []check {
	return []check{
		{"empty_object", putEmpty},
		{"small_object", putSmall},
		{"binary_all_byte_values", putBinary},
		{"overwrite_longer_with_shorter", putLongerThenShorter},
		{"overwrite_shorter_with_longer", putShorterThenLonger},
		{"overwrite_empty_with_data", putEmptyThenData},
		{"unknown_size", putUnknownSize},
		{"one_byte_reads", putOneByteReads},
		{"data_with_eof", putDataWithEOF},
		{"size_hint_too_large", putSizeHintTooLarge},
		{"size_hint_too_small", putSizeHintTooSmall},
		{"returns_attributes", putReturnsAttributes},
		{"reader_fails_midway_keeps_old", putReaderFailsKeepsOld},
		{"reader_fails_midway_creates_nothing", putReaderFailsCreatesNothing},
		{"reader_fails_at_once_keeps_old", putReaderFailsAtOnce},
		{"failed_put_leaves_nothing_in_the_way", putFailedLeavesNoFolder},
		{"nil_reader_refused", putNilReader},
		{"bad_size_refused", putBadSize},
		{"both_conditions_refused", putBothConditions},
		{"streams_16MiB", putStreams},
	}
}

func putEmpty(t *testing.T, e *env) {
	a := e.put("empty", nil)
	if a.Size != 0 {
		t.Errorf("Put returned size %d, want 0", a.Size)
	}
	e.wantContent(e.b, "empty", []byte{})
	st, err := e.b.Stat(e.ctx, "empty")
	if err != nil || st.Size != 0 {
		t.Fatalf("Stat = %+v, %v; want size 0", st, err)
	}
	e.wantKeys(e.b, "", "empty")
}

func putSmall(t *testing.T, e *env) {
	e.put("dir/small", []byte("hello, lectern"))
	e.wantContent(e.b, "dir/small", []byte("hello, lectern"))
}

func putBinary(t *testing.T, e *env) {
	data := make([]byte, 0, 512)
	for i := range 512 {
		data = append(data, byte(i), byte(255-i))
	}
	e.put("bin", data)
	e.wantContent(e.b, "bin", data)
}

func putLongerThenShorter(t *testing.T, e *env) {
	e.put("o", payload(100_000, "long"))
	short := payload(10, "short")
	e.put("o", short)
	e.wantContent(e.b, "o", short)
	if st, err := e.b.Stat(e.ctx, "o"); err != nil || st.Size != int64(len(short)) {
		t.Fatalf("Stat after shrinking = %+v, %v; want size %d", st, err, len(short))
	}
}

func putShorterThenLonger(t *testing.T, e *env) {
	e.put("o", payload(10, "short"))
	long := payload(100_000, "long")
	e.put("o", long)
	e.wantContent(e.b, "o", long)
}

func putEmptyThenData(t *testing.T, e *env) {
	e.put("o", nil)
	e.put("o", []byte("now with data"))
	e.wantContent(e.b, "o", []byte("now with data"))
}

func putUnknownSize(t *testing.T, e *env) {
	data := payload(70_000, "unknown")
	// A reader that hides its length (no Len, no Seek), as an upload stream would.
	r := io.MultiReader(bytes.NewReader(data[:30_000]), bytes.NewReader(data[30_000:]))
	if _, err := e.b.Put(e.ctx, "u", r, storage.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Put with unknown size: %v", err)
	}
	e.wantContent(e.b, "u", data)
}

func putOneByteReads(t *testing.T, e *env) {
	data := payload(3_000, "onebyte")
	r := iotest.OneByteReader(bytes.NewReader(data))
	if _, err := e.b.Put(e.ctx, "one", r, storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatalf("Put from a one-byte reader: %v", err)
	}
	e.wantContent(e.b, "one", data)
}

func putDataWithEOF(t *testing.T, e *env) {
	data := payload(5_000, "dataeof")
	r := iotest.DataErrReader(bytes.NewReader(data))
	if _, err := e.b.Put(e.ctx, "de", r, storage.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Put from a reader returning data with io.EOF: %v", err)
	}
	e.wantContent(e.b, "de", data)
}

// putSizeHintTooLarge: the Size hint must not be trusted for correctness. A backend
// may store what the reader gave or refuse the put, but never store something else.
func putSizeHintTooLarge(t *testing.T, e *env) {
	e.put("h", []byte("old"))
	data := payload(1_000, "hint")
	_, err := e.b.Put(e.ctx, "h", bytes.NewReader(data), storage.PutOptions{Size: 5_000})
	if err == nil {
		e.wantContent(e.b, "h", data)
		return
	}
	if storage.KindOf(err) == nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put with a wrong size hint failed with an unclassified error: %v", err)
	}
	e.wantContent(e.b, "h", []byte("old"))
}

// putSizeHintTooSmall: a backend that sends exactly Size bytes (a Content-Length
// taken from the hint) would silently truncate the object.
func putSizeHintTooSmall(t *testing.T, e *env) {
	e.put("h", []byte("old"))
	data := payload(10_000, "hint")
	_, err := e.b.Put(e.ctx, "h", bytes.NewReader(data), storage.PutOptions{Size: 10})
	if err == nil {
		e.wantContent(e.b, "h", data)
		return
	}
	if storage.KindOf(err) == nil {
		t.Fatalf("Put with a wrong size hint failed with an unclassified error: %v", err)
	}
	e.wantContent(e.b, "h", []byte("old"))
}

func putReturnsAttributes(t *testing.T, e *env) {
	data := payload(1234, "attrs")
	a := e.put("at/obj", data)
	if a.Size != int64(len(data)) {
		t.Errorf("Put returned size %d, want %d", a.Size, len(data))
	}
	if a.Version == "" {
		t.Errorf("Put returned an empty version")
	}
	if a.Key != "at/obj" {
		t.Errorf("Put returned key %q, want %q", a.Key, "at/obj")
	}
}

func putReaderFailsKeepsOld(t *testing.T, e *env) {
	old := payload(50_000, "old")
	e.put("f", old)
	next := payload(100_000, "new")
	_, err := e.b.Put(e.ctx, "f", &failingReader{data: next, failAt: 60_000}, storage.PutOptions{Size: int64(len(next))})
	if err == nil {
		t.Fatal("Put succeeded although its reader failed")
	}
	e.wantContent(e.b, "f", old)
	e.wantKeys(e.b, "", "f")
}

func putReaderFailsCreatesNothing(t *testing.T, e *env) {
	next := payload(100_000, "new")
	_, err := e.b.Put(e.ctx, "f", &failingReader{data: next, failAt: 60_000}, storage.PutOptions{Size: -1})
	if err == nil {
		t.Fatal("Put succeeded although its reader failed")
	}
	// The reader's failure is the caller's: passed on, not blamed on the storage.
	if !errors.Is(err, errReaderFailed) || storage.KindOf(err) != nil {
		t.Fatalf("Put whose reader failed = %v (category %v); want the reader's error, with no storage category", err, storage.KindOf(err))
	}
	e.wantMissing(e.b, "f")
	e.wantKeys(e.b, "")
}

// putFailedLeavesNoFolder: a put that fails (its reader, or its condition) leaves
// nothing of itself, not even, on a file system, the folders made for its key: one
// would keep a key of its name from ever being stored.
func putFailedLeavesNoFolder(t *testing.T, e *env) {
	_, err := e.b.Put(e.ctx, "lost/deeper/f", &failingReader{data: payload(10_000, "lost"), failAt: 5_000}, storage.PutOptions{Size: -1})
	if err == nil {
		t.Fatal("Put succeeded although its reader failed")
	}
	version := e.put("v", []byte("a version to ask for")).Version
	want := []string{"lost", "v"}
	// A backend without ConditionalReplace never sees an if-version put (the Bucket
	// refuses it): only the failed reader's folder is checked then.
	if e.caps.ConditionalReplace {
		_, err = e.b.PutBytes(e.ctx, "refused/deeper/f", []byte("x"), storage.Condition{IfVersion: version})
		wantKind(t, err, storage.ErrPrecondition, "Put if-version of a missing key")
		e.wantKeys(e.b, "", "v")
		e.put("refused", []byte("a key where the refused put's folder would be"))
		want = []string{"lost", "refused", "v"}
	}
	e.put("lost", []byte("a key where the failed put's folder would be"))
	e.wantKeys(e.b, "", want...)
}

func putReaderFailsAtOnce(t *testing.T, e *env) {
	e.put("f", []byte("old"))
	_, err := e.b.Put(e.ctx, "f", &failingReader{data: []byte("new"), failAt: 0}, storage.PutOptions{Size: 3})
	if err == nil {
		t.Fatal("Put succeeded although its reader failed")
	}
	e.wantContent(e.b, "f", []byte("old"))
}

func putNilReader(t *testing.T, e *env) {
	_, err := e.b.Put(e.ctx, "n", nil, storage.PutOptions{Size: -1})
	wantKind(t, err, storage.ErrInvalidArgument, "Put with a nil reader")
	e.wantKeys(e.b, "")
}

func putBadSize(t *testing.T, e *env) {
	_, err := e.b.Put(e.ctx, "n", bytes.NewReader(nil), storage.PutOptions{Size: -2})
	wantKind(t, err, storage.ErrInvalidArgument, "Put with size -2")
	e.wantKeys(e.b, "")
}

func putBothConditions(t *testing.T, e *env) {
	v := e.put("c", []byte("x")).Version
	_, err := e.b.PutBytes(e.ctx, "c", []byte("y"), storage.Condition{IfNotExists: true, IfVersion: v})
	wantKind(t, err, storage.ErrInvalidArgument, "Put with IfNotExists and IfVersion")
	e.wantContent(e.b, "c", []byte("x"))
}

// putStreams stores 16 MiB from a generator that is never held whole in memory by the
// suite, and reads it back through a hash.
func putStreams(t *testing.T, e *env) {
	const size = 16 << 20
	streamRoundTrip(t, e, "stream/16MiB", size)
}
